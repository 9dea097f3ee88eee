//! Quiet hours: no message that the agent or automation starts reaches a phone inside the
//! window (`quietHours: { start: "21:00", end: "08:00", timeZone }`); it is held and goes out
//! at the window's end. Direct replies to a text are never held (the texter is waiting), so
//! nothing here is called from the inbound pipeline.
//!
//! The time decision ([`QuietHours::hold_until`], [`window_end`]) is pure: the instant and the
//! zone are arguments. Offsets and daylight-saving rules come from the tz database (`jiff`);
//! `timeZone: "auto"` takes the recipient's zone from the number's region when that region has
//! exactly one zone ([`region_zone`]), else `fallbackTimeZone`.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan as _};
use openclaw_sms_target::E164;

use crate::SmsError;
use crate::config::QuietHoursInput;
use crate::quiet_zones::SINGLE_ZONE_REGIONS;

/// A wall-clock time of day at minute precision (`"21:00"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime {
    hour: i8,
    minute: i8,
}

impl ClockTime {
    /// Parses `HH:MM` (24-hour, two digits each).
    pub fn parse(input: &str) -> Option<Self> {
        let (h, m) = input.trim().split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let hour: i8 = h.parse().ok()?;
        let minute: i8 = m.parse().ok()?;
        ((0..24).contains(&hour) && (0..60).contains(&minute)).then_some(Self { hour, minute })
    }

    fn time(self) -> Time {
        // In range by construction (`parse`).
        Time::constant(self.hour, self.minute, 0, 0)
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// Which zone the window is read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuietZone {
    /// One IANA zone for every recipient.
    Fixed(String),
    /// The recipient's zone when their number's region has one zone, else `fallback`.
    Auto {
        /// The IANA zone for numbers whose region has several zones (or none known).
        fallback: String,
    },
}

/// `quietHours`, checked: `start` and `end` differ, and every zone named is in the tz
/// database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// Start of the window (inclusive).
    pub start: ClockTime,
    /// End of the window (exclusive): held messages go out at this time.
    pub end: ClockTime,
    /// The zone rule.
    pub zone: QuietZone,
}

/// Where the zone used for a recipient came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneSource {
    /// `timeZone` names it.
    Configured,
    /// `auto`: the number's region has exactly this one zone.
    Region,
    /// `auto`: the region has several zones (or none known): `fallbackTimeZone`.
    Fallback,
}

impl ZoneSource {
    /// `configured`, `region` or `fallback`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Region => "region",
            Self::Fallback => "fallback",
        }
    }
}

/// The zone a recipient's window is read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientZone {
    /// The IANA name.
    pub name: String,
    /// Why this zone.
    pub source: ZoneSource,
}

/// A message held by quiet hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The end of the window: when it goes out, unix milliseconds.
    pub until_ms: i64,
    /// The zone the window was read in.
    pub zone: RecipientZone,
}

/// Whether `name` is a zone of the tz database.
pub fn is_known_zone(name: &str) -> bool {
    TimeZone::get(name).is_ok()
}

/// The one zone of a region (`GB` → `Europe/London`), or `None` when the region has several
/// (`US`, `CA`, `RU`, …) or is unknown.
pub fn region_zone(region: &str) -> Option<&'static str> {
    SINGLE_ZONE_REGIONS
        .binary_search_by(|(r, _)| (*r).cmp(region))
        .ok()
        .map(|i| SINGLE_ZONE_REGIONS[i].1)
}

impl QuietHours {
    /// The zone of `to`'s window.
    pub fn zone_for(&self, to: &E164) -> RecipientZone {
        match &self.zone {
            QuietZone::Fixed(name) => RecipientZone {
                name: name.clone(),
                source: ZoneSource::Configured,
            },
            QuietZone::Auto { fallback } => {
                match to.region().and_then(|r| region_zone(r.as_str())) {
                    Some(name) => RecipientZone {
                        name: name.to_owned(),
                        source: ZoneSource::Region,
                    },
                    None => RecipientZone {
                        name: fallback.clone(),
                        source: ZoneSource::Fallback,
                    },
                }
            }
        }
    }

    /// `Some` when a message started at `now_ms` to `to` falls in the window: it waits until
    /// the returned end. `None`: send now.
    pub fn hold_until(&self, to: &E164, now_ms: i64) -> Option<Hold> {
        let zone = self.zone_for(to);
        // Zones were checked when the config was read; an unknown one holds nothing.
        let tz = TimeZone::get(&zone.name).ok()?;
        let now = Timestamp::from_millisecond(now_ms).ok()?;
        let end = window_end(now, self.start, self.end, &tz)?;
        Some(Hold {
            until_ms: end.as_millisecond(),
            zone,
        })
    }
}

/// The end of the quiet window that contains `now` in `tz`, or `None` when `now` is outside
/// it. The window is `[start, end)` in local wall-clock time and crosses midnight when
/// `end <= start`. A wall-clock end that a daylight-saving change skips or repeats on that
/// day resolves as `jiff`'s `compatible` rule does (the instant after a gap, the first of a
/// fold, or the second when `now` is already past the first).
pub fn window_end(
    now: Timestamp,
    start: ClockTime,
    end: ClockTime,
    tz: &TimeZone,
) -> Option<Timestamp> {
    if start == end {
        return None;
    }
    let local = now.to_zoned(tz.clone());
    let time = local.time();
    let (start_t, end_t) = (start.time(), end.time());
    let end_day: Date = if start_t < end_t {
        if time < start_t || time >= end_t {
            return None;
        }
        local.date()
    } else if time >= start_t {
        local.date().checked_add(1.day()).ok()?
    } else if time < end_t {
        local.date()
    } else {
        return None;
    };
    let ambiguous = tz.to_ambiguous_zoned(end_day.to_datetime(end_t));
    let first = ambiguous.clone().compatible().ok()?.timestamp();
    if first > now {
        return Some(first);
    }
    // Inside a repeated hour, after the first of two equal wall-clock ends: the second one.
    let second = ambiguous.later().ok()?.timestamp();
    (second > now).then_some(second)
}

/// Checks `quietHours` (at `path`): both times, distinct, and known zones.
pub(crate) fn resolve(input: &QuietHoursInput, path: &str) -> Result<QuietHours, SmsError> {
    let key = |k: &str| format!("{path}.{k}");
    let time = |k: &str, v: Option<&String>| {
        let v = v.ok_or_else(|| {
            SmsError::invalid(
                &key(k),
                "is required, as \"HH:MM\" (24-hour), e.g. \"21:00\"",
            )
        })?;
        ClockTime::parse(v).ok_or_else(|| {
            SmsError::invalid(
                &key(k),
                "must be \"HH:MM\" (24-hour, 00:00 to 23:59), e.g. \"08:00\"",
            )
        })
    };
    let start = time("start", input.start.as_ref())?;
    let end = time("end", input.end.as_ref())?;
    if start == end {
        return Err(SmsError::invalid(
            &key("end"),
            "must differ from start (the window runs from start to end, across midnight when end is earlier)",
        ));
    }
    let zone_named = |k: &str, name: &str| {
        if is_known_zone(name) {
            Ok(name.to_owned())
        } else {
            let shown: String = name.chars().take(64).collect();
            Err(SmsError::invalid(
                &key(k),
                &format!(
                    "{shown:?} is not a time zone of the tz database; use an IANA name such as \"America/New_York\""
                ),
            ))
        }
    };
    let fallback = input
        .fallback_time_zone
        .as_deref()
        .map(str::trim)
        .map(|f| zone_named("fallbackTimeZone", f))
        .transpose()?;
    let zone = match input.time_zone.as_deref().map(str::trim) {
        None | Some("auto") => QuietZone::Auto {
            fallback: fallback.ok_or_else(|| {
                SmsError::invalid(
                    &key("fallbackTimeZone"),
                    "is required with timeZone \"auto\": the zone for numbers whose region has several (such as +1), e.g. \"America/New_York\"",
                )
            })?,
        },
        Some(name) => QuietZone::Fixed(zone_named("timeZone", name)?),
    };
    Ok(QuietHours { start, end, zone })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(hhmm: &str) -> ClockTime {
        ClockTime::parse(hhmm).unwrap()
    }

    /// `(now as RFC 3339, window start, window end, zone)` → the end, RFC 3339 UTC, or `None`.
    #[track_caller]
    fn check(now: &str, start: &str, end: &str, zone: &str, expected: Option<&str>) {
        let tz = TimeZone::get(zone).unwrap();
        let now: Timestamp = now.parse().unwrap();
        let got = window_end(now, t(start), t(end), &tz).map(|e| e.to_string());
        assert_eq!(got.as_deref(), expected, "{now} in {start}-{end} {zone}");
    }

    #[test]
    fn windows_crossing_midnight_start_inclusive_end_exclusive() {
        let z = "Europe/London"; // GMT in December: local = UTC.
        check("2026-12-04T20:59:59Z", "21:00", "08:00", z, None);
        check(
            "2026-12-04T21:00:00Z",
            "21:00",
            "08:00",
            z,
            Some("2026-12-05T08:00:00Z"),
        );
        check(
            "2026-12-04T23:59:59Z",
            "21:00",
            "08:00",
            z,
            Some("2026-12-05T08:00:00Z"),
        );
        check(
            "2026-12-05T00:00:00Z",
            "21:00",
            "08:00",
            z,
            Some("2026-12-05T08:00:00Z"),
        );
        check(
            "2026-12-05T07:59:59Z",
            "21:00",
            "08:00",
            z,
            Some("2026-12-05T08:00:00Z"),
        );
        check("2026-12-05T08:00:00Z", "21:00", "08:00", z, None);
        check("2026-12-05T12:00:00Z", "21:00", "08:00", z, None);
    }

    #[test]
    fn windows_within_one_day() {
        let z = "Asia/Tokyo"; // UTC+9, no DST.
        check("2026-12-05T03:59:00Z", "13:00", "14:30", z, None);
        check(
            "2026-12-05T04:00:00Z",
            "13:00",
            "14:30",
            z,
            Some("2026-12-05T05:30:00Z"),
        );
        check(
            "2026-12-05T05:29:59Z",
            "13:00",
            "14:30",
            z,
            Some("2026-12-05T05:30:00Z"),
        );
        check("2026-12-05T05:30:00Z", "13:00", "14:30", z, None);
        // start == end is no window (the config refuses it).
        check("2026-12-05T04:00:00Z", "13:00", "13:00", z, None);
    }

    #[test]
    fn a_dst_change_day_in_the_recipients_zone() {
        let ny = "America/New_York";
        // 2026-03-08: clocks go 02:00 EST -> 03:00 EDT. The night from 21:00 EST (02:00Z) to
        // 08:00 EDT (12:00Z) is ten hours, not eleven; the end is 12:00Z, not 13:00Z.
        check("2026-03-08T01:59:59Z", "21:00", "08:00", ny, None);
        check(
            "2026-03-08T02:00:00Z",
            "21:00",
            "08:00",
            ny,
            Some("2026-03-08T12:00:00Z"),
        );
        check(
            "2026-03-08T11:59:59Z",
            "21:00",
            "08:00",
            ny,
            Some("2026-03-08T12:00:00Z"),
        );
        check("2026-03-08T12:00:00Z", "21:00", "08:00", ny, None);
        // The day before, the same local end is 13:00Z (EST).
        check(
            "2026-03-07T12:30:00Z",
            "21:00",
            "08:00",
            ny,
            Some("2026-03-07T13:00:00Z"),
        );
        // An end that the change skips (02:30 does not exist that night): the instant after
        // the gap, 03:30 EDT = 07:30Z.
        check(
            "2026-03-08T06:30:00Z",
            "01:00",
            "02:30",
            ny,
            Some("2026-03-08T07:30:00Z"),
        );
        // 2026-11-01: clocks go 02:00 EDT -> 01:00 EST; 01:30 happens twice: the first one
        // (EDT, 05:30Z) ends the window.
        check(
            "2026-11-01T04:00:00Z",
            "23:00",
            "01:30",
            ny,
            Some("2026-11-01T05:30:00Z"),
        );
        // In the repeated hour, at 01:10 EST (after the first 01:30 has passed): the second
        // 01:30 (EST, 06:30Z) ends the window.
        check(
            "2026-11-01T06:10:00Z",
            "23:00",
            "01:30",
            ny,
            Some("2026-11-01T06:30:00Z"),
        );
    }

    #[test]
    fn clock_times_parse_strictly() {
        assert_eq!(t("21:00").to_string(), "21:00");
        assert_eq!(t("00:05").to_string(), "00:05");
        for bad in [
            "24:00", "9:00", "09:60", "0900", "", "ab:cd", "-1:00", "09:0",
        ] {
            assert!(ClockTime::parse(bad).is_none(), "{bad}");
        }
    }

    fn quiet(zone: QuietZone) -> QuietHours {
        QuietHours {
            start: t("21:00"),
            end: t("08:00"),
            zone,
        }
    }

    #[test]
    fn auto_takes_a_single_zone_regions_zone_and_the_fallback_otherwise() {
        let auto = quiet(QuietZone::Auto {
            fallback: "America/Chicago".to_owned(),
        });
        let zone = |n: &str| auto.zone_for(&E164::parse(n).unwrap());
        // +44 7400: GB, one zone (+44 79111 would be Guernsey: the plan knows).
        assert_eq!(
            zone("+447400123456"),
            RecipientZone {
                name: "Europe/London".to_owned(),
                source: ZoneSource::Region
            }
        );
        assert_eq!(zone("+81312345678").name, "Asia/Tokyo");
        // +1 (US: many zones) and a number of no known region: the fallback.
        for n in ["+14155552671", "+15551234567"] {
            assert_eq!(
                zone(n),
                RecipientZone {
                    name: "America/Chicago".to_owned(),
                    source: ZoneSource::Fallback
                },
                "{n}"
            );
        }
        let fixed = quiet(QuietZone::Fixed("Asia/Tokyo".to_owned()));
        assert_eq!(
            fixed
                .zone_for(&E164::parse("+447400123456").unwrap())
                .source,
            ZoneSource::Configured
        );
        // 22:30 in London is quiet for a GB number; the same instant is 16:30 in Chicago.
        let at = "2026-12-04T22:30:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        let gb = auto
            .hold_until(&E164::parse("+447400123456").unwrap(), at)
            .unwrap();
        assert_eq!(
            Timestamp::from_millisecond(gb.until_ms)
                .unwrap()
                .to_string(),
            "2026-12-05T08:00:00Z"
        );
        assert!(
            auto.hold_until(&E164::parse("+14155552671").unwrap(), at)
                .is_none()
        );
    }

    #[test]
    fn config_is_checked_naming_the_key() {
        let input = |start: &str, end: &str, tz: Option<&str>, fb: Option<&str>| QuietHoursInput {
            start: Some(start.to_owned()),
            end: Some(end.to_owned()),
            time_zone: tz.map(str::to_owned),
            fallback_time_zone: fb.map(str::to_owned),
        };
        let err = |i: QuietHoursInput| {
            resolve(&i, "channels.sms.quietHours")
                .unwrap_err()
                .to_string()
        };
        let ok = resolve(
            &input("21:00", "08:00", None, Some("America/New_York")),
            "q",
        )
        .unwrap();
        assert_eq!(
            ok.zone,
            QuietZone::Auto {
                fallback: "America/New_York".to_owned()
            }
        );
        assert!(
            err(input("21:00", "08:00", Some("auto"), None))
                .contains("channels.sms.quietHours.fallbackTimeZone")
        );
        assert!(
            err(input("21:00", "8:00", Some("UTC"), None)).contains("channels.sms.quietHours.end")
        );
        assert!(err(input("21:00", "21:00", Some("UTC"), None)).contains("must differ from start"));
        assert!(
            err(input("21:00", "08:00", Some("Mars/Base"), None))
                .contains("channels.sms.quietHours.timeZone")
        );
        assert!(err(QuietHoursInput::default()).contains("channels.sms.quietHours.start"));
    }

    #[test]
    fn the_region_table_is_sorted_and_every_zone_exists() {
        assert!(SINGLE_ZONE_REGIONS.windows(2).all(|w| w[0].0 < w[1].0));
        for (region, zone) in SINGLE_ZONE_REGIONS {
            assert!(is_known_zone(zone), "{region}: {zone}");
        }
        assert_eq!(region_zone("JP"), Some("Asia/Tokyo"));
        assert_eq!(region_zone("US"), None);
        assert_eq!(region_zone("CA"), None);
    }
}
