//! Dates in the shapes Twilio uses: RFC 2822 in JSON, `YYYY-MM-DD` in filters, `YYMMDDhhmm`
//! in `RawDlrDoneDate`. Always UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC calendar time, split into fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// 0 = Sunday.
    pub(crate) weekday: u32,
}

impl Civil {
    pub(crate) fn from_system_time(time: SystemTime) -> Self {
        // Times before 1970 never occur here (the simulator stamps `now`); clamp them to the epoch.
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self::from_unix(secs)
    }

    pub(crate) fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (4).
        let weekday = u32::try_from((days + 4).rem_euclid(7)).unwrap_or(0);
        let rem = u32::try_from(rem).unwrap_or(0);
        Self {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            weekday,
        }
    }
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if m <= 2 { y + 1 } else { y };
    (
        year,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Wed, 25 Nov 2026 19:14:46 +0000`, as in Twilio's `date_created`.
pub(crate) fn rfc2822(time: SystemTime) -> String {
    let c = Civil::from_system_time(time);
    let weekday = WEEKDAYS.get(c.weekday as usize).copied().unwrap_or("Sun");
    let month = MONTHS
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {:02} {month} {} {:02}:{:02}:{:02} +0000",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// `2026-11-25`, the form of the `DateSent` list filter.
pub(crate) fn ymd(time: SystemTime) -> String {
    let c = Civil::from_system_time(time);
    format!("{:04}-{:02}-{:02}", c.year, c.month, c.day)
}

/// `2611251914`, the form of `RawDlrDoneDate` (minute precision, no zone).
pub(crate) fn raw_dlr_done_date(time: SystemTime) -> String {
    let c = Civil::from_system_time(time);
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        c.year.rem_euclid(100),
        c.month,
        c.day,
        c.hour,
        c.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn check(unix: u64, expected_rfc: &str, expected_ymd: &str, expected_dlr: &str) {
        let t = UNIX_EPOCH + Duration::from_secs(unix);
        assert_eq!(rfc2822(t), expected_rfc);
        assert_eq!(ymd(t), expected_ymd);
        assert_eq!(raw_dlr_done_date(t), expected_dlr);
    }

    #[test]
    fn formats_dates() {
        check(
            0,
            "Thu, 01 Jan 1970 00:00:00 +0000",
            "1970-01-01",
            "7001010000",
        );
        check(
            951_782_400,
            "Tue, 29 Feb 2000 00:00:00 +0000",
            "2000-02-29",
            "0002290000",
        );
        check(
            1_692_853_305,
            "Thu, 24 Aug 2023 05:01:45 +0000",
            "2023-08-24",
            "2308240501",
        );
        check(
            1_795_633_486,
            "Wed, 25 Nov 2026 19:04:46 +0000",
            "2026-11-25",
            "2611251904",
        );
    }
}
