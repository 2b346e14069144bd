"""generate() arguments shared by pgml.transform, transform_stream and pgml.generate: the names
PostgresML's SDK sends, checked values, and a stopping criterion that lets a cancel act."""
from .. import errors

POSITIVE_GENERATION_ARGS = ("num_beams", "num_beam_groups", "num_return_sequences")


def generation_args(args, pipe):
    """OpenAI-style names PostgresML's SDK sends, and eos_token/chat_template."""
    args = dict(args)
    if "max_tokens" in args:
        args.setdefault("max_new_tokens", args.pop("max_tokens"))
    for name in ("presence_penalty", "frequency_penalty"):  # OpenAI's; generate() has neither
        if args.get(name) in (0, 0.0, None):
            args.pop(name, None)
        elif name in args:
            raise errors.InvalidParameter(
                "%s is not supported by Hugging Face generate()" % name,
                hint="Use repetition_penalty (1.0 = none, > 1.0 discourages repeats) instead.")
    for name in POSITIVE_GENERATION_ARGS:
        errors.check_positive_int(name, args.get(name))
    if "eos_token" in args:
        tokenizer = getattr(pipe, "tokenizer", None)
        args["eos_token_id"] = tokenizer.convert_tokens_to_ids(args.pop("eos_token"))
    return args


def interrupt_check(check_for_interrupts):
    """A stopping criterion that lets statement_timeout and pg_cancel_backend stop generate()
    between tokens: check_for_interrupts raises the cancel ERROR."""
    from transformers import StoppingCriteria

    class CheckForInterrupts(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            check_for_interrupts()
            return False
    return CheckForInterrupts()
