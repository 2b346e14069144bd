"""Progress of long work as NOTICEs: the first step, then at most one every few seconds, so a
quick train stays quiet and a long one shows counts and an ETA. `status` also gets each
message (the caller shows it in pg_stat_activity)."""
import time


class Progress:
    def __init__(self, notice, every_seconds=2.0, clock=time.monotonic, status=None):
        self.notice, self.every, self.clock, self.status = notice, every_seconds, clock, status
        self.last = None

    def __call__(self, message, force=False):
        now = self.clock()
        if force or self.last is None or now - self.last >= self.every:
            self.last = now
            if self.status is not None:
                self.status(message)
            self.notice(message)
