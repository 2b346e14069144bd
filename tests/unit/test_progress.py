from pgml_py.progress import Progress


def test_first_message_then_at_most_one_per_interval():
    said, now = [], [0.0]
    progress = Progress(said.append, every_seconds=2.0, clock=lambda: now[0])
    for t, message in [(0.0, "a"), (0.5, "b"), (1.9, "c"), (2.1, "d"), (3.0, "e"), (4.2, "f")]:
        now[0] = t
        progress(message)
    assert said == ["a", "d", "f"]
    progress("last", force=True)
    assert said[-1] == "last"


def test_status_gets_what_is_said():
    said, shown = [], []
    progress = Progress(said.append, every_seconds=0, status=shown.append)
    progress("fit 1 of 2")
    assert said == shown == ["fit 1 of 2"]
