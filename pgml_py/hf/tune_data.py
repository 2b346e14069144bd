"""The rows pgml.tune trains on: the snapshot's text columns, read in sampling
order and split train/test like pgml.train's (test rows from the end; stratified by the class
column for classification). Values stay text: tokenizing is the model's business."""
import json

from .. import errors
from ..ml import snapshot
from ..ml.relations import TEXT_TYPES, attributes, order_by
from ..ml.split import stratified_order, test_rows

CLASSIFICATION = ("text_classification", "text_pair_classification")
SEQ2SEQ = ("translation", "summarization", "text2text")

# dataset_args keys per task: (role, default column name, required)
COLUMNS = {
    "text_classification": [("text_column", "text", True), ("class_column", "class", True)],
    "text_pair_classification": [("text1_column", "text1", True), ("text2_column", "text2", True),
                                 ("class_column", "class", True)],
    "conversation": [("system_column", "system", False), ("user_column", "user", True),
                     ("assistant_column", "assistant", True)],
    "translation": [("text_column", "text", True), ("target_column", "target", True)],
    "summarization": [("text_column", "text", True), ("target_column", "target", True)],
    "text2text": [("text_column", "text", True), ("target_column", "target", True)],
}
LABEL_ROLES = ("class_column",)  # may be any scalar type; every other column must be text


class Rows:
    """Column values by role ("text_column" → [str, ...]) for the train and test splits."""

    def __init__(self, train, test, classes=None):
        self.train, self.test, self.classes = train, test, classes

    def __len__(self):
        return len(next(iter(self.train.values()), []))


def column_names(task, dataset_args, y_column_name=None):
    """{role: column name} from dataset_args and the defaults; y_column_name, when given, is the
    default class/target column. Unknown keys are an ERROR (a typo would silently train on the
    default column)."""
    known = {role for role, _, _ in COLUMNS[task]}
    unknown = sorted(set(dataset_args) - known)
    if unknown:
        raise errors.InvalidParameter(
            "dataset_args has unknown key%s for %s: %s" % ("s" if len(unknown) > 1 else "", task, ", ".join(unknown)),
            hint="The keys for this task are: %s." % ", ".join(sorted(known)))
    names = {}
    for role, default, _ in COLUMNS[task]:
        if role in ("class_column", "target_column") and y_column_name:
            default = y_column_name
        name = dataset_args.get(role, default)
        if not isinstance(name, str) or not name:
            raise errors.bad_argument("dataset_args.%s" % role, "a column name", json.dumps(name))
        names[role] = name
    return names


def read(db, snapshot_id, task, names, explicit_roles=()):
    """Rows of the snapshot for the roles in `names`, split train/test."""
    snap, rel = snapshot.source(db, snapshot_id)
    if snap["materialized"]:
        order = " ORDER BY ctid" if rel["kind"] == "r" else ""
    else:
        order = order_by(snap["sampling"])
    attrs = {a["name"]: a for a in attributes(db, rel["oid"])}

    roles = {}
    for role, _, required in COLUMNS[task]:
        name = names[role]
        a = attrs.get(name)
        if a is None:
            if not required and role not in explicit_roles:
                continue  # an optional column (system) the relation does not have
            raise errors.UndefinedColumn(
                'column "%s" (dataset_args.%s) not found in relation "%s"' % (name, role, snap["relation_name"]),
                hint="The relation's columns are: %s. Name yours in hyperparams => '{\"dataset_args\": "
                     "{\"%s\": \"...\"}}'." % (", ".join(sorted(attrs)), role))
        if a["is_array"] or (role not in LABEL_ROLES and a["base"] not in TEXT_TYPES):
            raise errors.FeatureNotSupported(
                'column "%s" must be text for pgml.tune, not %s' % (name, a["pg_type"]),
                hint="Cast it to text in a view.")
        roles[role] = a

    quoted = ", ".join("%s AS %s" % (a["quoted"], role) for role, a in roles.items())
    result = db.execute("SELECT %s FROM %s%s" % (quoted, rel["qualified"], order))
    values = {role: [r[role] for r in result] for role in roles}
    for role, column in values.items():
        if any(v is None for v in column):
            raise errors.NullValueNotAllowed(
                'column "%s" contains NULL values' % roles[role]["name"],
                hint="Remove or fill the rows WHERE %s IS NULL (a view can filter them)." % roles[role]["quoted"])

    n = len(result)
    num_test = test_rows(float(snap["test_size"]), n)
    order = list(range(n))
    classes = None
    if task in CLASSIFICATION:
        labels = values["class_column"]
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise errors.DataError(
                'column "%s" has %d distinct value%s; classification needs at least 2'
                % (roles["class_column"]["name"], len(classes), "" if len(classes) == 1 else "s"),
                hint="Train on rows of at least two classes.")
        if snap["sampling"] == "stratified":
            order = stratified_order([(v,) for v in labels], num_test).tolist()
    values = {role: [column[i] for i in order] for role, column in values.items()}
    split = n - num_test
    snapshot.write_columns(db, snapshot_id, [
        {"name": a["name"], "pg_type": a["pg_type"], "nullable": a["nullable"],
         "label": role in LABEL_ROLES or role == "target_column", "position": a["position"],
         "size": 1, "array": False, "role": role}
        for role, a in sorted(roles.items(), key=lambda item: item[1]["position"])], n)
    return Rows({role: column[:split] for role, column in values.items()},
                {role: column[split:] for role, column in values.items()}, classes)
