"""Progress for long upserts: a tqdm bar on stderr when stderr is a terminal, else nothing."""
import sys


class _Silent:
    def update(self, n):
        pass

    def close(self):
        pass


def bar(total, description):
    if total < 2 or not sys.stderr.isatty():
        return _Silent()
    from tqdm import tqdm
    return tqdm(total=total, desc=description, unit="doc", file=sys.stderr, leave=False)
