//! Calendar arithmetic the pool needs, without a time-zone database.
//!
//! Gemini's daily quotas reset at midnight America/Los_Angeles, so a key exhausted for the day
//! cools down until [`next_pacific_midnight_ms`]. Usage counters are bucketed per UTC day
//! ([`utc_day`]). Both are pure functions of a Unix time in milliseconds; the caller passes
//! the clock in.
//!
//! The Pacific offset follows the US rule in force since 2007: daylight time (PDT, UTC-7) from
//! the second Sunday of March at 02:00 local standard time (10:00 UTC) to the first Sunday of
//! November at 02:00 local daylight time (09:00 UTC); standard time (PST, UTC-8) otherwise.
//! Dates are converted with Howard Hinnant's `days_from_civil` / `civil_from_days`
//! (proleptic Gregorian calendar, valid for any `i64` day count we can meet).

const MS_PER_HOUR: i64 = 3_600_000;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
/// Pacific Standard Time, in milliseconds east of UTC.
const PST_OFFSET_MS: i64 = -8 * MS_PER_HOUR;
/// Pacific Daylight Time, in milliseconds east of UTC.
const PDT_OFFSET_MS: i64 = -7 * MS_PER_HOUR;

/// The next 00:00 America/Los_Angeles strictly after `now_ms` (Unix ms), as Unix ms: when
/// Gemini's per-day quotas reset. At exactly midnight it returns the following midnight.
pub fn next_pacific_midnight_ms(now_ms: i64) -> i64 {
    let local_day = (now_ms + pacific_offset_ms(now_ms)).div_euclid(MS_PER_DAY);
    let next_day = local_day + 1;
    // Midnight is never inside a transition (they happen at 02:00), so the offset in force at
    // local midnight is well defined: daylight time from the day after the March change up to
    // and including the day of the November change.
    let (year, _, _) = civil_from_days(next_day);
    let (dst_start, dst_end) = dst_days(year);
    let offset = if next_day > dst_start && next_day <= dst_end {
        PDT_OFFSET_MS
    } else {
        PST_OFFSET_MS
    };
    next_day * MS_PER_DAY - offset
}

/// The UTC calendar day of `now_ms` as `YYYY-MM-DD`: the key of the usage buckets.
pub fn utc_day(now_ms: i64) -> String {
    let (y, m, d) = civil_from_days(now_ms.div_euclid(MS_PER_DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The offset of America/Los_Angeles from UTC at the instant `utc_ms`, in milliseconds
/// (-8 h or -7 h).
pub fn pacific_offset_ms(utc_ms: i64) -> i64 {
    // Near the UTC new year it is always standard time, so the UTC year is the right one.
    let (year, _, _) = civil_from_days(utc_ms.div_euclid(MS_PER_DAY));
    let (start_day, end_day) = dst_days(year);
    // 02:00 PST = 10:00 UTC; 02:00 PDT = 09:00 UTC.
    let start = start_day * MS_PER_DAY + 10 * MS_PER_HOUR;
    let end = end_day * MS_PER_DAY + 9 * MS_PER_HOUR;
    if utc_ms >= start && utc_ms < end {
        PDT_OFFSET_MS
    } else {
        PST_OFFSET_MS
    }
}

/// Days since 1970-01-01 of the second Sunday of March and the first Sunday of November.
fn dst_days(year: i64) -> (i64, i64) {
    (nth_sunday(year, 3, 2), nth_sunday(year, 11, 1))
}

/// Days since 1970-01-01 of the `n`th Sunday (1-based) of `month` in `year`.
fn nth_sunday(year: i64, month: u32, n: i64) -> i64 {
    let first = days_from_civil(year, month, 1);
    // 1970-01-01 was a Thursday; weekday 0 = Sunday.
    let weekday = (first + 4).rem_euclid(7);
    first + (7 - weekday) % 7 + 7 * (n - 1)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix milliseconds of an RFC 3339 UTC time as Google writes them
/// (`2026-12-05T10:00:00.123456Z`); `None` for anything else.
pub fn parse_rfc3339_utc_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: u32 = date.next()?.parse().ok()?;
    let day: u32 = date.next()?.parse().ok()?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis: i64 = if fraction.is_empty() {
        0
    } else if fraction.chars().all(|c| c.is_ascii_digit()) {
        format!("{fraction:0<3}")[..3].parse().ok()?
    } else {
        return None;
    };
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unix ms of a UTC date-time.
    fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * MS_PER_DAY + h * MS_PER_HOUR + mi * 60_000
    }

    /// The local wall-clock (date, minutes into the day) of an instant, by the offset rule.
    fn local(utc_ms: i64) -> ((i64, u32, u32), i64) {
        let l = utc_ms + pacific_offset_ms(utc_ms);
        (
            civil_from_days(l.div_euclid(MS_PER_DAY)),
            l.rem_euclid(MS_PER_DAY) / 60_000,
        )
    }

    #[test]
    fn civil_round_trips_and_knows_leap_years() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 3, 1) - days_from_civil(2000, 2, 28), 2);
        assert_eq!(days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28), 1);
        assert_eq!(days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 28), 2);
        assert_eq!(days_from_civil(2026, 3, 1) - days_from_civil(2026, 2, 28), 1);
        let mut prev = civil_from_days(-800_000);
        for days in -799_999..800_000 {
            let date = civil_from_days(days);
            assert_eq!(days_from_civil(date.0, date.1, date.2), days);
            assert!(date > prev, "{date:?} after {prev:?}");
            prev = date;
        }
    }

    #[test]
    fn sundays_of_the_dst_rule() {
        // (year, March change day, November change day) for 2007-2040, from the IANA
        // database (Python zoneinfo); every change happens at 10:00 / 09:00 UTC.
        #[rustfmt::skip]
        let table = [
            (2007, 11, 4), (2008, 9, 2), (2009, 8, 1), (2010, 14, 7), (2011, 13, 6), (2012, 11, 4),
            (2013, 10, 3), (2014, 9, 2), (2015, 8, 1), (2016, 13, 6), (2017, 12, 5), (2018, 11, 4),
            (2019, 10, 3), (2020, 8, 1), (2021, 14, 7), (2022, 13, 6), (2023, 12, 5), (2024, 10, 3),
            (2025, 9, 2), (2026, 8, 1), (2027, 14, 7), (2028, 12, 5), (2029, 11, 4), (2030, 10, 3),
            (2031, 9, 2), (2032, 14, 7), (2033, 13, 6), (2034, 12, 5), (2035, 11, 4), (2036, 9, 2),
            (2037, 8, 1), (2038, 14, 7), (2039, 13, 6), (2040, 11, 4),
        ];
        for (year, march, november) in table {
            assert_eq!(
                dst_days(year),
                (days_from_civil(year, 3, march), days_from_civil(year, 11, november)),
                "{year}"
            );
            let start = utc(year, 3, march, 10, 0);
            let end = utc(year, 11, november, 9, 0);
            assert_eq!(pacific_offset_ms(start - 1), PST_OFFSET_MS, "{year}");
            assert_eq!(pacific_offset_ms(start), PDT_OFFSET_MS, "{year}");
            assert_eq!(pacific_offset_ms(end - 1), PDT_OFFSET_MS, "{year}");
            assert_eq!(pacific_offset_ms(end), PST_OFFSET_MS, "{year}");
        }
    }

    #[test]
    fn utc_day_formats_and_rolls_at_utc_midnight() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(-1), "1969-12-31");
        assert_eq!(utc_day(utc(2026, 12, 31, 23, 59) + 59_999), "2026-12-31");
        assert_eq!(utc_day(utc(2027, 1, 1, 0, 0)), "2027-01-01");
        assert_eq!(utc_day(utc(2024, 2, 29, 12, 0)), "2024-02-29");
        assert_eq!(utc_day(1_767_225_600_000), "2026-01-01");
    }

    #[test]
    fn offset_switches_at_the_exact_instants() {
        // 2026-03-08 02:00 PST = 10:00 UTC; 2026-11-01 02:00 PDT = 09:00 UTC.
        let start = utc(2026, 3, 8, 10, 0);
        let end = utc(2026, 11, 1, 9, 0);
        assert_eq!(pacific_offset_ms(start - 1), PST_OFFSET_MS);
        assert_eq!(pacific_offset_ms(start), PDT_OFFSET_MS);
        assert_eq!(pacific_offset_ms(end - 1), PDT_OFFSET_MS);
        assert_eq!(pacific_offset_ms(end), PST_OFFSET_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 1, 1, 0, 0)), PST_OFFSET_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 7, 4, 12, 0)), PDT_OFFSET_MS);
        assert_eq!(pacific_offset_ms(utc(2026, 12, 31, 23, 59)), PST_OFFSET_MS);
    }

    #[test]
    fn midnights_around_transitions_and_year_ends() {
        // (now as UTC y, m, d, h, min) -> expected next LA midnight as UTC (y, m, d, h).
        // Expected values cross-checked against the IANA database (Python zoneinfo).
        type Now = (i64, u32, u32, i64, i64);
        type Midnight = (i64, u32, u32, i64);
        let table: &[(Now, Midnight)] = &[
            // Spring forward: 2026-03-08. Midnight that day is still PST (08:00 UTC) ...
            ((2026, 3, 8, 7, 59), (2026, 3, 8, 8)),
            ((2026, 3, 8, 8, 0), (2026, 3, 9, 7)), // exactly midnight -> the next one
            ((2026, 3, 8, 9, 59), (2026, 3, 9, 7)), // 01:59 PST
            ((2026, 3, 8, 10, 0), (2026, 3, 9, 7)), // 03:00 PDT
            ((2026, 3, 9, 6, 59), (2026, 3, 9, 7)), // 23:59 PDT
            ((2026, 3, 9, 7, 0), (2026, 3, 10, 7)),
            ((2026, 3, 7, 12, 0), (2026, 3, 8, 8)),
            // Fall back: 2026-11-01. Midnight that day is still PDT (07:00 UTC) ...
            ((2026, 10, 31, 7, 0), (2026, 11, 1, 7)),
            ((2026, 11, 1, 6, 59), (2026, 11, 1, 7)),
            ((2026, 11, 1, 7, 0), (2026, 11, 2, 8)), // exactly midnight; that day has 25 h
            ((2026, 11, 1, 8, 30), (2026, 11, 2, 8)), // first 01:30 (PDT)
            ((2026, 11, 1, 9, 30), (2026, 11, 2, 8)), // second 01:30 (PST)
            ((2026, 11, 2, 7, 59), (2026, 11, 2, 8)), // 23:59 PST
            ((2026, 11, 2, 8, 0), (2026, 11, 3, 8)),
            // Year ends (always PST): 2026-12-31 16:00 PST = 2027-01-01 00:00 UTC.
            ((2026, 12, 31, 12, 0), (2027, 1, 1, 8)),
            ((2027, 1, 1, 0, 0), (2027, 1, 1, 8)),
            ((2027, 1, 1, 7, 59), (2027, 1, 1, 8)),
            ((2027, 1, 1, 8, 0), (2027, 1, 2, 8)),
            ((2024, 12, 31, 23, 0), (2025, 1, 1, 8)),
            // Leap day, and the 2025 transitions (March 9, November 2).
            ((2024, 2, 29, 7, 59), (2024, 2, 29, 8)),
            ((2024, 2, 29, 8, 0), (2024, 3, 1, 8)),
            ((2025, 3, 9, 9, 0), (2025, 3, 10, 7)),
            ((2025, 11, 2, 6, 0), (2025, 11, 2, 7)),
            ((2025, 11, 2, 7, 0), (2025, 11, 3, 8)),
            ((2026, 6, 15, 20, 0), (2026, 6, 16, 7)),
        ];
        for &((y, mo, d, h, mi), (ey, emo, ed, eh)) in table {
            let now = utc(y, mo, d, h, mi);
            assert_eq!(
                next_pacific_midnight_ms(now),
                utc(ey, emo, ed, eh, 0),
                "now {y}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"
            );
        }
    }

    #[test]
    fn every_quarter_hour_for_years_lands_on_the_next_local_midnight() {
        // An oracle independent of the midnight code: walk the local clock.
        let from = utc(2023, 12, 25, 0, 0);
        let to = utc(2031, 1, 5, 0, 0);
        let step = 15 * 60_000 + 7; // drift the minute so seconds vary too
        let mut now = from;
        while now < to {
            let next = next_pacific_midnight_ms(now);
            assert!(next > now);
            assert!(next - now <= 25 * MS_PER_HOUR, "{now}");
            let ((_, _, _), minutes) = local(next);
            assert_eq!(minutes, 0, "next midnight of {now} is not at 00:00 local");
            let (today, _) = local(now);
            let (that_day, _) = local(next);
            assert_eq!(
                days_from_civil(that_day.0, that_day.1, that_day.2),
                days_from_civil(today.0, today.1, today.2) + 1,
                "{now}"
            );
            now += step;
        }
    }

    #[test]
    fn exactly_at_local_midnight_skips_to_the_next_day() {
        for day in days_from_civil(2025, 1, 1)..days_from_civil(2028, 1, 1) {
            let (y, m, d) = civil_from_days(day);
            let midnight = next_pacific_midnight_ms(utc(y, m, d, 0, 0) - 12 * MS_PER_HOUR);
            let following = next_pacific_midnight_ms(midnight);
            let length = following - midnight;
            assert!(
                length == MS_PER_DAY || length == 23 * MS_PER_HOUR || length == 25 * MS_PER_HOUR,
                "{y}-{m}-{d}"
            );
            assert_eq!(next_pacific_midnight_ms(midnight - 1), midnight);
        }
    }

    #[test]
    fn google_timestamps_parse_to_unix_ms() {
        assert_eq!(parse_rfc3339_utc_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_utc_ms("2026-12-05T10:00:00.123456Z"),
            Some(1_796_464_800_123)
        );
        assert_eq!(parse_rfc3339_utc_ms("2026-12-05T10:00:00.5Z"), Some(1_796_464_800_500));
        assert_eq!(parse_rfc3339_utc_ms("2026-12-05T10:00:00+01:00"), None);
        assert_eq!(parse_rfc3339_utc_ms("2026-13-05T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_utc_ms("soon"), None);
    }
}
