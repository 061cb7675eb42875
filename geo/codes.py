"""Check and split area and component codes (GB/T 30428.1 grid codes, 网格编码).

An area code grows by level: a 6-digit county code (GB/T 2260) names the district (区县), three
more digits a street or township (街道/乡镇), three more a community or village (社区/村), and three
more the unit grid (单元网格) — 15 digits; older maps use a 2-digit grid sequence, so 14 digits is
accepted too. A component (部件) code is county (6) + major class (2) + minor class (2) +
sequence (6), e.g. 3205080101000001.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from geo.errors import InvalidCode

__all__ = [
    "AREA_CODE_LENGTHS",
    "ComponentCode",
    "Level",
    "check_area_code",
    "check_component_code",
    "expected_parent_prefix",
    "parent_level",
    "parse_component_code",
    "parse_level",
]

# First two digits of GB/T 2260 county codes: the provinces, autonomous regions, municipalities
# and the special regions. A code outside these is a typo or a made-up map.
PROVINCE_PREFIXES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip


class Level(StrEnum):
    """Name a level of the grid hierarchy, from the top (district) down to the unit grid."""

    district = "district"
    street = "street"
    community = "community"
    grid = "grid"

    @property
    def rank(self) -> int:
        """Return 0 for the district down to 3 for the unit grid."""
        return _ORDER.index(self)

    @property
    def parent_level(self) -> Level | None:
        """Return the level one up, or None for the district."""
        rank = self.rank
        return _ORDER[rank - 1] if rank > 0 else None

    @property
    def child_level(self) -> Level | None:
        """Return the level one down, or None for the unit grid."""
        rank = self.rank
        return _ORDER[rank + 1] if rank + 1 < len(_ORDER) else None

    @property
    def chinese(self) -> str:
        """Return the Chinese name of the level."""
        return _CHINESE[self]


_ORDER: tuple[Level, ...] = (Level.district, Level.street, Level.community, Level.grid)
_CHINESE = {
    Level.district: "区县",
    Level.street: "街道/乡镇",
    Level.community: "社区/村",
    Level.grid: "单元网格",
}

AREA_CODE_LENGTHS: dict[Level, tuple[int, ...]] = {
    Level.district: (6,),
    Level.street: (9,),
    Level.community: (12,),
    Level.grid: (15, 14),
}

# Where a level's code stops and its own part begins: the code of the parent is this long.
_PARENT_LENGTH = {Level.street: 6, Level.community: 9, Level.grid: 12}


def parse_level(level: Level | str) -> Level:
    """Return the Level named by `level`, or raise InvalidCode listing the valid names."""
    if isinstance(level, Level):
        return level
    try:
        return Level(level)
    except ValueError:
        valid = ", ".join(lv.value for lv in Level)
        raise InvalidCode(f"Unknown level {level!r}; use one of {valid}") from None


def parent_level(level: Level | str) -> Level | None:
    """Return the level one up from `level`, or None for the district."""
    return parse_level(level).parent_level


def _digit_problems(code: object, what: str) -> list[str]:
    if not isinstance(code, str):
        return [f"{what} must be a string of digits, not {type(code).__name__}"]
    if not code:
        return [f"{what} is empty"]
    # str.isdigit accepts other scripts' digits (e.g. "١٢"); codes are ASCII only.
    if not (code.isascii() and code.isdigit()):
        return [f"{what} {code!r} must contain digits 0-9 only"]
    return []


def check_area_code(code: str, level: Level | str) -> list[str]:
    """List what is wrong with an area code for its level; an empty list means it is fine."""
    problems = _digit_problems(code, "code")
    lvl = parse_level(level)
    if problems:
        return problems
    lengths = AREA_CODE_LENGTHS[lvl]
    if len(code) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        problems.append(f"a {lvl.value} code has {wanted} digits, {code!r} has {len(code)}")
    if code[:2] not in PROVINCE_PREFIXES and len(code) >= 2:
        problems.append(f"code {code!r} does not start with a GB/T 2260 province code ({code[:2]})")
    return problems


def expected_parent_prefix(code: str, level: Level | str) -> str | None:
    """Return the parent's code that `code` must start with, or None for a district."""
    length = _PARENT_LENGTH.get(parse_level(level))
    return None if length is None else code[:length]


@dataclass(frozen=True, slots=True)
class ComponentCode:
    """Hold the parts of a component (部件) code; all stay strings to keep leading zeros."""

    county: str
    major: str
    minor: str
    sequence: str

    def __str__(self) -> str:
        return f"{self.county}{self.major}{self.minor}{self.sequence}"


COMPONENT_CODE_LENGTH = 16


def check_component_code(code: str) -> list[str]:
    """List what is wrong with a 16-digit component code; an empty list means it is fine."""
    problems = _digit_problems(code, "component code")
    if problems:
        return problems
    if len(code) != COMPONENT_CODE_LENGTH:
        problems.append(
            f"a component code has {COMPONENT_CODE_LENGTH} digits (county 6 + major 2 + "
            f"minor 2 + sequence 6), {code!r} has {len(code)}"
        )
        return problems
    if code[:2] not in PROVINCE_PREFIXES:
        problems.append(f"component code {code!r} does not start with a GB/T 2260 province code")
    if code[6:8] == "00":
        problems.append(f"component code {code!r} has major class 00")
    if code[8:10] == "00":
        problems.append(f"component code {code!r} has minor class 00")
    if code[10:] == "000000":
        problems.append(f"component code {code!r} has sequence 000000")
    return problems


def parse_component_code(code: str) -> ComponentCode:
    """Split a component code into county, major, minor and sequence, or raise InvalidCode."""
    problems = check_component_code(code)
    if problems:
        raise InvalidCode("; ".join(problems))
    return ComponentCode(county=code[:6], major=code[6:8], minor=code[8:10], sequence=code[10:])
