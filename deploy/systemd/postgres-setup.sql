-- One database and one login for every registry of a deployment (docs/DEPLOYMENT.md). Run as the
-- PostgreSQL superuser: `sudo -u postgres psql -f deploy/systemd/postgres-setup.sql`, after replacing
-- the password. The registries create their tables themselves on first start (one of them, under an
-- advisory lock), so the login needs to own the database.
CREATE ROLE thaw LOGIN PASSWORD 'change-me';
CREATE DATABASE thaw OWNER thaw;
