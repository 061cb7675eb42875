"""Peak memory of thumbnailing a large legit photo: ``python -m bench.thumbnail_rss``.

Makes a 48 MP (8000×6000) JPEG, thumbnails it in a fresh child process and prints how far the
child's resident set rose above what its imports took (Linux: the peak is reset first).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import sys
from pathlib import Path
from gridapp.media.jobs import _render

def status(name):
    for line in open("/proc/self/status"):
        if line.startswith(name):
            return int(line.split()[1])

before = status("VmRSS:")
# Reset the peak (VmHWM) to now, so it measures the thumbnail alone, not the imports.
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
_render(Path(sys.argv[1]), Path(sys.argv[2]))
print(before, status("VmHWM:"))
"""


def main() -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.jpg"
        # A gradient rather than a flat colour, so the JPEG has real content to decode.
        Image.linear_gradient("L").resize((8000, 6000)).convert("RGB").save(source, quality=90)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(source), str(Path(tmp) / "thumb.jpg")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        size_mb = source.stat().st_size / 1e6
        print(f"photo 8000x6000 ({size_mb:.1f} MB JPEG)")
        before, peak = int(out[0]) / 1024, int(out[1]) / 1024
        print(f"worker RSS before: {before:.0f} MB; peak while thumbnailing: {peak:.0f} MB")
        print(f"thumbnailing added at most {peak - before:.0f} MB")


if __name__ == "__main__":
    main()
