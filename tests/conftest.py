"""Suite-wide collection order: tests marked ``heavy`` (minutes of CPU each) first.

With pytest-xdist's work stealing (``make test``), the long runs then start while
short tests fill the other core, instead of one of them starting last and leaving a
core idle for its whole run.
"""


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)     # stable: order kept within
