#!/usr/bin/env bash
# Runs once, on the first start of an empty data volume (docker-entrypoint-initdb.d).
# Creates one role and one database each for the gbv warehouse, Airflow's metadata and Dagster's storage,
# with passwords from the environment (compose.yaml passes them; none has a default).
set -euo pipefail

: "${GBV_DB_PASSWORD:?GBV_DB_PASSWORD must be set}"
: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD must be set}"
: "${DAGSTER_DB_PASSWORD:?DAGSTER_DB_PASSWORD must be set}"

create() {  # role database password
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v role="$1" -v db="$2" -v pw="$3" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
}

create gbv gbv "$GBV_DB_PASSWORD"
create airflow airflow "$AIRFLOW_DB_PASSWORD"
create dagster dagster "$DAGSTER_DB_PASSWORD"
# pgvector for the comparables search: CREATE EXTENSION needs a superuser, so it is made here, once, in the
# warehouse database (gbv.market.comps then finds it and keeps its vectors in PostgreSQL instead of usearch)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname gbv -c 'CREATE EXTENSION IF NOT EXISTS vector'
echo "gbv, airflow and dagster databases ready (pgvector in gbv)"
