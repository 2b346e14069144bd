"""The SDK for a role with neither CREATE on the database nor on schema pgml (pgml 1.3's grant
model): collection and pipeline schemas come from pgml.create_collection_schema, owned by the
caller, and another role cannot take them over.

On a server older than 1.3 a superuser installs a stand-in for that function with the same
contract (SECURITY DEFINER, checks the caller owns the project / collection, refuses with 42501 a
schema another role owns), so the SDK's path for 1.3 is exercised here too; on 1.3 the real one
is used and nothing is installed."""
import pytest

import pgml
from conftest import documents, pipeline_schema


STANDIN = """
CREATE FUNCTION pgml.create_collection_schema(collection TEXT, pipeline TEXT DEFAULT NULL) RETURNS TEXT AS $$
DECLARE
    name TEXT := CASE WHEN pipeline IS NULL THEN collection ELSE collection || '_' || pipeline END;
    caller REGROLE := pg_catalog.to_regrole(pg_catalog.quote_ident(SESSION_USER));
    owner_ REGROLE;
BEGIN
    IF pipeline IS NULL THEN
        SELECT p.owner INTO owner_ FROM pgml.projects p WHERE p.name = collection AND p.task = 'embedding';
    ELSE
        SELECT p.owner INTO owner_ FROM pgml.collections c JOIN pgml.projects p ON p.id = c.project_id
        WHERE c.name = collection;
    END IF;
    IF owner_ IS DISTINCT FROM caller THEN
        RAISE EXCEPTION 'collection "%" does not belong to role %', collection, caller USING ERRCODE = '42501';
    END IF;
    SELECT n.nspowner::regrole INTO owner_ FROM pg_catalog.pg_namespace n WHERE n.nspname = name;
    IF owner_ IS NOT NULL AND owner_ IS DISTINCT FROM caller THEN
        RAISE EXCEPTION 'schema "%" belongs to another role', name USING ERRCODE = '42501';
    END IF;
    EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', name, SESSION_USER);
    RETURN name;
END
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
"""


@pytest.fixture(scope="module")
def strict_urls(admin, app_url):
    """Two roles with pgml.grant_usage and no CREATE on the database nor on schema pgml."""
    real = admin.execute("SELECT to_regprocedure('pgml.create_collection_schema(text,text)')").fetchone()[0]
    if real is None:
        admin.execute(STANDIN)
    db = admin.execute("SELECT current_database()").fetchone()[0]
    urls = []
    for role in ("sdk_strict", "sdk_strict2"):
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
            admin.execute("CREATE ROLE %s LOGIN" % role)
        admin.execute("SELECT pgml.grant_usage(%s)", (role,))
        admin.execute('REVOKE CREATE ON DATABASE "%s" FROM %s' % (db, role))
        admin.execute("REVOKE CREATE ON SCHEMA pgml FROM %s" % role)
        urls.append(app_url.replace("sdk_app@", role + "@"))
    yield urls
    if real is None:
        admin.execute("DROP FUNCTION pgml.create_collection_schema(TEXT, TEXT)")


async def test_a_role_without_create_privileges_uses_collections(strict_urls, admin, name):
    collection = pgml.Collection(name, strict_urls[0])
    pipeline = pgml.Pipeline("p1", pipeline_schema())
    await collection.upsert_documents(documents())
    await collection.add_pipeline(pipeline)
    hits = await collection.vector_search({"query": {"fields": {"text": {"query": "a purring pet"}}}, "limit": 1}, pipeline)
    assert hits[0]["document"]["id"] == "cats"
    owners = admin.execute("SELECT nspname, nspowner::regrole::text FROM pg_namespace WHERE nspname IN (%s, %s) ORDER BY 1",
                           (name, name + "_p1")).fetchall()
    assert owners == [(name, "sdk_strict"), (name + "_p1", "sdk_strict")]
    # Another role cannot take the name over (its project insert or the schema function refuses).
    squatter = pgml.Collection(name, strict_urls[1])
    with pytest.raises(pgml.PgmlError) as info:
        await squatter.upsert_documents(documents()[:1])
    assert info.value.sqlstate == "42501"
    await collection.archive()
    assert await collection.exists() is False
    archived = admin.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s ORDER BY 1",
                             (name + "%",)).fetchall()
    assert len(archived) == 2 and all("_archive_" in r[0] for r in archived)


async def test_a_schema_made_by_another_role_is_refused(strict_urls, admin, name):
    admin.execute('CREATE SCHEMA "%s"' % name)  # squatted by the superuser
    with pytest.raises(pgml.PermissionDeniedError):
        await pgml.Collection(name, strict_urls[0]).upsert_documents(documents()[:1])
