//! Reading typed values out of portable rows (ids as text, times as milliseconds).

use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::str::FromStr;
use time::{Date, OffsetDateTime};

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {e}"))
}

pub(crate) fn text(row: &AnyRow, col: &str) -> Result<String, StoreError> {
    row.try_get::<String, _>(col).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> Result<Option<String>, StoreError> {
    row.try_get::<Option<String>, _>(col)
        .map_err(|e| corrupt(col, e))
}

pub(crate) fn int(row: &AnyRow, col: &str) -> Result<i64, StoreError> {
    row.try_get::<i64, _>(col).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> Result<Option<i64>, StoreError> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(|e| corrupt(col, e))
}

pub(crate) fn flag(row: &AnyRow, col: &str) -> Result<bool, StoreError> {
    int(row, col).map(|v| v != 0)
}

pub(crate) fn id<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    text(row, col)?
        .parse()
        .map_err(|_| corrupt(col, "not an id"))
}

pub(crate) fn opt_id<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>, StoreError> {
    opt_text(row, col)?
        .map(|s| s.parse().map_err(|_| corrupt(col, "not an id")))
        .transpose()
}

pub(crate) fn time(row: &AnyRow, col: &str) -> Result<OffsetDateTime, StoreError> {
    int(row, col).map(lanyard_core::clock::from_millis)
}

pub(crate) fn opt_date(row: &AnyRow, col: &str) -> Result<Option<Date>, StoreError> {
    opt_text(row, col)?
        .map(|s| Date::parse(&s, DATE).map_err(|e| corrupt(col, e)))
        .transpose()
}

pub(crate) fn date(row: &AnyRow, col: &str) -> Result<Date, StoreError> {
    opt_date(row, col)?.ok_or_else(|| corrupt(col, "missing date"))
}

/// A date as stored (`YYYY-MM-DD`).
pub(crate) fn date_text(d: Date) -> String {
    d.format(DATE).unwrap_or_default()
}

pub(crate) fn parsed<T>(
    row: &AnyRow,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let s = text(row, col)?;
    parse(&s).ok_or_else(|| corrupt(col, format!("unknown value {s:?}")))
}

pub(crate) fn b(v: bool) -> i64 {
    i64::from(v)
}
