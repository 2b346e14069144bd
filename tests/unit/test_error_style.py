"""Every error message pgml raises follows one style (pgml_py/errors.py says which), except the
PostgresML 2.10 texts kept on purpose, which errors.POSTGRESML_TEXTS lists. Read from the source:
each errors.<Class>("...") call whose message starts with a string literal."""
import ast
import re
from pathlib import Path

from pgml_py import errors

PACKAGE = Path(errors.__file__).resolve().parent
CLASSES = {name for name, value in vars(errors).items()
           if isinstance(value, type) and issubclass(value, errors.PgmlError)}
# Names that start a message with a capital and are still lowercase style.
PROPER = re.compile(r"(PostgreSQL|PL/Python|Python|XGBoost|LightGBM|CatBoost|NLTK|ONNX|OpenVINO|CUDA|GPU|"
                    r"SentenceTransformer|LangChain|Hugging Face|LoRA|TEXT|JSON)\b")


def templates(node):
    """The message templates an argument can produce (both sides of a conditional)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.BinOp):
        return templates(node.left)
    if isinstance(node, ast.IfExp):
        return templates(node.body) + templates(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return templates(node.func.value)
    return []


def messages():
    """[(file:line, template)] of every message raised through an errors class."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in CLASSES:
                    where = "%s:%d" % (path.relative_to(PACKAGE.parent), node.lineno)
                    found += [(where, t) for t in templates(node.args[0])]
    return found


def kept_for_postgresml(template):
    return any(template.startswith(text) for text in errors.POSTGRESML_TEXTS)


def follows_the_style(template):
    lowercase = not re.match(r"[A-Z][a-z]", template) or PROPER.match(template)
    no_period = not template.rstrip().endswith(".") or re.search(r"Got .* instead\.$", template)
    return bool(lowercase and no_period)


def test_messages_are_found():
    assert len(messages()) > 50


def test_every_message_follows_the_style_or_is_a_postgresml_text():
    wrong = ["%s: %r" % (where, t) for where, t in messages()
             if not kept_for_postgresml(t) and not follows_the_style(t)]
    assert not wrong, "restyle these, or list them in errors.POSTGRESML_TEXTS:\n" + "\n".join(wrong)


def test_every_postgresml_text_is_still_raised():
    raised = [t for _, t in messages()]
    gone = [text for text in errors.POSTGRESML_TEXTS if not any(t.startswith(text) for t in raised)]
    assert not gone, gone


def test_the_style_check_can_fail():
    assert not follows_the_style("Unknown splitter")
    assert not follows_the_style("project does not exist.")
    assert follows_the_style('unknown splitter "%s"')
    assert follows_the_style("cv must be a positive integer. Got %s instead.")
