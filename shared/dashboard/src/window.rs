//! The window a usage figure covers: whole UTC days, as the aggregates are per day, from a
//! `period` name or explicit dates.

use thanotopolis_service::{ApiError, ApiResult};
use time::{Date, Duration, OffsetDateTime};

/// A window of whole UTC days (aggregates are per day).
pub struct Window {
    pub period: String,
    first_day: Date,
    last_day: Date,
}

fn day(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_day(field: &str, raw: &str) -> ApiResult<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    raw.get(..10)
        .and_then(|d| Date::parse(d, &format).ok())
        .ok_or_else(|| {
            ApiError::invalid(&["query", field], "Input should be an ISO date or datetime")
        })
}

impl Window {
    /// The last `days` days up to today.
    pub fn last_days(period: &str, days: i64) -> Window {
        let today = OffsetDateTime::now_utc().date();
        Window {
            period: period.into(),
            first_day: today - Duration::days(days - 1),
            last_day: today,
        }
    }

    /// `period` (`day`/`week`/`month`, default month) ending at `end_date` (default today),
    /// or from `start_date`.
    pub fn parse(
        period: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
    ) -> ApiResult<Window> {
        let period = period.unwrap_or("month");
        let days = match period {
            "day" => 1,
            "week" => 7,
            "month" => 30,
            _ => {
                return Err(ApiError::invalid(
                    &["query", "period"],
                    "Input should be 'day', 'week' or 'month'",
                ))
            }
        };
        let last_day = match end {
            Some(e) => parse_day("end_date", e)?,
            None => OffsetDateTime::now_utc().date(),
        };
        let first_day = match start {
            Some(s) => parse_day("start_date", s)?,
            None => last_day - Duration::days(days - 1),
        };
        if first_day > last_day {
            return Err(ApiError::invalid(
                &["query", "start_date"],
                "start_date is after end_date",
            ));
        }
        Ok(Window {
            period: period.into(),
            first_day,
            last_day,
        })
    }

    pub fn days(&self) -> (String, String) {
        (day(self.first_day), day(self.last_day))
    }

    pub fn bounds(&self) -> (String, String) {
        (
            format!("{}T00:00:00Z", day(self.first_day)),
            format!("{}T23:59:59.999999999Z", day(self.last_day)),
        )
    }
}
