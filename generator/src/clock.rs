//! The wall clock, for names of results directories only: nothing rendered
//! or planned depends on it.

/// `YYYYMMDDTHHMMSSZ` now (UTC), from the system clock.
pub fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    timestamp(secs)
}

/// `YYYYMMDDTHHMMSSZ` of `secs` seconds after 1970-01-01T00:00:00Z.
pub fn timestamp(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        // The last second of a leap day, and the day after.
        assert_eq!(timestamp(951_868_799), "20000229T235959Z");
        assert_eq!(timestamp(951_868_800), "20000301T000000Z");
        assert_eq!(timestamp(1_735_689_599), "20241231T235959Z");
        assert_eq!(timestamp(4_102_444_800), "21000101T000000Z");
        assert_eq!(utc_timestamp().len(), 16);
    }
}
