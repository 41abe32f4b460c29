//! PostgreSQL: one connection per `Database`, working in its own schema; READ COMMITTED
//! transactions retried on serialization failures and deadlocks; a dropped connection is
//! reopened before the next transaction.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};

use crate::error::{Error, Result};
use crate::value::{Row, Value};
use crate::{DropOffThread, TRANSACTION_ATTEMPTS_MAX, Tx, TxInner};

/// Prepared statements kept per connection; past this the cache starts over (parties use a
/// few dozen distinct statements, so this is only a bound against a caller building SQL text).
const STATEMENT_CACHE_MAX: usize = 256;

/// Statements prepared on this connection, by SQL text: one round trip saved per statement.
#[derive(Default)]
pub(crate) struct StatementCache(HashMap<String, Statement>);

impl StatementCache {
    fn get(&mut self, client: &mut Client, sql: &str) -> Result<Statement> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).map_err(failure("prepare"))?;
        if self.0.len() >= STATEMENT_CACHE_MAX {
            self.0.clear();
        }
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

pub(crate) struct PgBackend {
    url: String,
    schema: String,
    statements: StatementCache,
    // Dropped on its own thread: the sync client's Drop must not run on a tokio worker.
    client: DropOffThread<Client>,
    /// This connection's identity ([`crate::next_connection_id`]).
    id: u64,
}

fn failure(operation: &'static str) -> impl Fn(postgres::Error) -> Error {
    move |error| {
        let code = error.code();
        let unique = code == Some(&SqlState::UNIQUE_VIOLATION);
        let retryable =
            code == Some(&SqlState::T_R_SERIALIZATION_FAILURE) || code == Some(&SqlState::T_R_DEADLOCK_DETECTED);
        let message = match error.as_db_error() {
            Some(db) => format!("postgres: {} ({})", db.message(), db.code().code()),
            None => format!("postgres: {error}"),
        };
        Error::new(operation, message).with_flags(unique, retryable)
    }
}

pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn connect(url: &str, schema: &str) -> Result<Client> {
    let mut client = Client::connect(url, NoTls).map_err(failure("connect"))?;
    let schema = quote_identifier(schema);
    // Two processes creating the same schema at once can collide in the catalog; once more
    // is enough since the second attempt sees it created.
    let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
    if client.batch_execute(&create).is_err() {
        client.batch_execute(&create).map_err(failure("create schema"))?;
    }
    client.batch_execute(&format!("SET search_path TO {schema}")).map_err(failure("set search_path"))?;
    Ok(client)
}

impl PgBackend {
    pub(crate) fn connect(url: &str, schema: &str) -> Result<PgBackend> {
        let client = connect(url, schema)?;
        Ok(PgBackend {
            url: url.to_owned(),
            schema: schema.to_owned(),
            statements: StatementCache::default(),
            client: DropOffThread::new(client),
            id: crate::next_connection_id(),
        })
    }

    /// Run statements with no parameters and no rows (transaction control).
    pub(crate) fn raw(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(failure("transaction control"))
    }

    /// The statement that opens a write transaction.
    pub(crate) const BEGIN: &'static str = "BEGIN";

    /// A handle for statements inside a transaction this backend opened.
    pub(crate) fn tx(&mut self) -> Tx<'_> {
        Tx {
            inner: TxInner::Postgres(&mut self.client, &mut self.statements),
            connection: self.id,
            deferred: None,
            savepoint_due: None,
            recording: false,
        }
    }

    /// Reconnect when the server closed the connection (between transactions only).
    pub(crate) fn ensure_connected(&mut self) -> Result<()> {
        if self.client.is_closed() {
            self.client = DropOffThread::new(connect(&self.url, &self.schema)?);
            self.statements = StatementCache::default();
        }
        Ok(())
    }

    pub(crate) fn transaction<T>(&mut self, work: &mut dyn FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        if self.client.is_closed() {
            self.client = DropOffThread::new(connect(&self.url, &self.schema)?);
            // Statements belong to the connection that prepared them.
            self.statements = StatementCache::default();
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(work) {
                Err(error) if error.is_retryable() && attempt < TRANSACTION_ATTEMPTS_MAX => {
                    std::thread::sleep(Duration::from_millis(attempt as u64));
                }
                other => return other,
            }
        }
    }

    fn attempt<T>(&mut self, work: &mut dyn FnMut(&mut Tx<'_>) -> Result<T>) -> Result<T> {
        self.client.batch_execute("BEGIN").map_err(failure("begin"))?;
        let result = work(&mut Tx {
            inner: TxInner::Postgres(&mut self.client, &mut self.statements),
            connection: self.id,
            deferred: None,
            savepoint_due: None,
            recording: false,
        });
        match result {
            Ok(value) => match self.client.batch_execute("COMMIT") {
                Ok(()) => Ok(value),
                Err(error) => {
                    let _ = self.client.batch_execute("ROLLBACK");
                    Err(failure("commit")(error))
                }
            },
            Err(error) => {
                let _ = self.client.batch_execute("ROLLBACK");
                Err(error)
            }
        }
    }
}

/// Parameters as the statement declares them: integers bind to BIGINT (and to INTEGER/SMALLINT
/// columns through a checked narrowing), text to TEXT, bytes to BYTEA.
fn bind(types: &[Type], params: &[Value]) -> Result<Vec<Box<dyn ToSql + Sync>>> {
    if types.len() != params.len() {
        return Err(Error::new("bind", format!("statement takes {} parameters, {} given", types.len(), params.len())));
    }
    let mut out: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(params.len());
    for (index, (ty, value)) in types.iter().zip(params).enumerate() {
        let boxed: Box<dyn ToSql + Sync> = match value {
            Value::Null => match *ty {
                Type::INT8 => Box::new(None::<i64>),
                Type::INT4 => Box::new(None::<i32>),
                Type::INT2 => Box::new(None::<i16>),
                Type::BYTEA => Box::new(None::<Vec<u8>>),
                _ => Box::new(None::<String>),
            },
            Value::Int(v) => match *ty {
                Type::INT4 => Box::new(i32::try_from(*v).map_err(|_| out_of_range(index))?),
                Type::INT2 => Box::new(i16::try_from(*v).map_err(|_| out_of_range(index))?),
                _ => Box::new(*v),
            },
            Value::Text(v) => Box::new(v.clone()),
            Value::Blob(v) => Box::new(v.clone()),
        };
        out.push(boxed);
    }
    Ok(out)
}

fn out_of_range(index: usize) -> Error {
    Error::new("bind", format!("parameter ${} does not fit its column type", index + 1))
}

pub(crate) fn execute(client: &mut Client, cache: &mut StatementCache, sql: &str, params: &[Value]) -> Result<u64> {
    if params.is_empty() {
        // DDL and parameterless statements: not worth keeping prepared.
        return client.execute(sql, &[]).map_err(failure("execute"));
    }
    let statement = cache.get(client, sql)?;
    let bound = bind(statement.params(), params)?;
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
    client.execute(&statement, &refs).map_err(failure("execute"))
}

pub(crate) fn query(client: &mut Client, cache: &mut StatementCache, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
    let statement = cache.get(client, sql)?;
    let bound = bind(statement.params(), params)?;
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b.as_ref()).collect();
    let rows = client.query(&statement, &refs).map_err(failure("query"))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (index, column) in row.columns().iter().enumerate() {
            let value = match *column.type_() {
                Type::INT8 => row.try_get::<_, Option<i64>>(index).map(|v| v.map_or(Value::Null, Value::Int)),
                Type::INT4 => {
                    row.try_get::<_, Option<i32>>(index).map(|v| v.map_or(Value::Null, |v| Value::Int(i64::from(v))))
                }
                Type::INT2 => {
                    row.try_get::<_, Option<i16>>(index).map(|v| v.map_or(Value::Null, |v| Value::Int(i64::from(v))))
                }
                Type::BOOL => {
                    row.try_get::<_, Option<bool>>(index).map(|v| v.map_or(Value::Null, |v| Value::Int(i64::from(v))))
                }
                Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(index).map(|v| v.map_or(Value::Null, Value::Blob)),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
                    row.try_get::<_, Option<String>>(index).map(|v| v.map_or(Value::Null, Value::Text))
                }
                _ => return Err(Error::column(index, "BIGINT, INTEGER, TEXT or BYTEA")),
            }
            .map_err(failure("read"))?;
            values.push(value);
        }
        out.push(Row::new(values));
    }
    Ok(out)
}

pub(crate) fn drop_schema(url: &str, schema: &str) -> Result<()> {
    let mut client = DropOffThread::new(Client::connect(url, NoTls).map_err(failure("connect"))?);
    let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_identifier(schema));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.batch_execute(&sql) {
            Ok(()) => return Ok(()),
            Err(e) if attempt < TRANSACTION_ATTEMPTS_MAX => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(attempt as u64 * 10));
            }
            Err(e) => return Err(failure("drop schema")(e)),
        }
    }
}
