"""Cancel, statement_timeout and pg_terminate_backend inside long library calls.

PostgreSQL acts on them only where the backend checks for interrupts, and a library call
(encode() of 20,000 texts, a pipeline over many inputs) runs for minutes without one. Every
loaded torch model gets a check before each forward pass, so a call stops within one batch.
"""
import threading

from . import errors

check = None  # db.check_for_interrupts, set by api.startup (None outside a backend)


def point():
    """Raises errors.Interrupted with the database's cancel ERROR when one is pending (main
    thread only: a download or tokenizer thread must never query). Interrupted is a
    BaseException, so library code that catches Exception lets it through."""
    if check is None or threading.current_thread() is not threading.main_thread():
        return
    try:
        check()
    except Exception as e:  # the cancel (statement_timeout, pg_cancel_backend) as plpy raised it
        raise errors.Interrupted(e) from None


def _before_forward(module, args):
    point()


def watch(loaded):
    """Registers the check before every forward pass of the torch module in `loaded` (the
    module itself, a pipeline's or wrapper's .model); anything else is left as it is."""
    import sys
    torch = sys.modules.get("torch")
    if torch is None:
        return loaded
    module = loaded if isinstance(loaded, torch.nn.Module) else getattr(loaded, "model", None)
    if isinstance(module, torch.nn.Module) and not getattr(module, "_pgml_interrupts", False):
        module.register_forward_pre_hook(_before_forward)
        module._pgml_interrupts = True
    return loaded
