# shellcheck shell=bash
# Run once by the mysql image's entrypoint on an empty data directory. Deliberately not
# executable: the entrypoint then *sources* it, so docker_process_sql and the MYSQL_*
# variables are available (an executable script would run without them).
#
# 1. The application user gets mysql_native_password: couponrush's MySQL driver (sqlx,
#    built without TLS and without its `mysql-rsa` feature) cannot complete MySQL 8's
#    caching_sha2_password full authentication over a plain connection.
# 2. A least-privilege user for mysqld_exporter.
docker_process_sql <<-EOSQL
	ALTER USER '${MYSQL_USER}'@'%' IDENTIFIED WITH mysql_native_password BY '${MYSQL_PASSWORD}';
	CREATE USER IF NOT EXISTS 'exporter'@'%' IDENTIFIED WITH mysql_native_password BY '${MYSQLD_EXPORTER_PASSWORD}'
	  WITH MAX_USER_CONNECTIONS 3;
	GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'exporter'@'%';
	FLUSH PRIVILEGES;
EOSQL
