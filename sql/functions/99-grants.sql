------------------------------------------------------------------------------------------
-- Last part of every script: every granted role gets what this release's grant model gives
-- (pgml._apply_grants), so an upgrade grants what it adds and takes back what it drops.
------------------------------------------------------------------------------------------
SELECT pgml._apply_grants(g."role", g.official_sdk) FROM pgml.grantees g;
