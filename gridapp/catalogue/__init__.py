"""The catalogue: categories (部件/事件), departments, components and responsibility rules."""
