#pragma once
// Local calendar in the configured time zone (BENTO_TZ). The zone is process-wide (POSIX TZ), set once at
// start-up before any thread runs, so every component agrees on what "today" and "the next meal" are.
#include <cstdint>
#include <string>

#include "protocol/domain/types.hpp"

namespace bento::domain {

/// Validates an IANA zone name against the installed tzdata and makes it the process zone.
/// Returns false (and changes nothing) for an unknown or malformed name.
bool set_time_zone(const std::string& name);

int64_t now_ms();

/// YYYY-MM-DD of the instant in the process zone.
std::string local_date(int64_t unix_ms);

/// The meal a customer ordering at this instant most likely means: breakfast until 10:00, lunch until 14:00,
/// dinner until 20:00, else tomorrow's breakfast.
struct meal_slot {
  domain::meal meal;
  std::string date;
};
meal_slot next_meal_slot(int64_t unix_ms);

/// Strict YYYY-MM-DD with a real calendar day.
bool is_valid_date(const std::string& s);
/// Strict YYYY-MM.
bool is_valid_month(const std::string& s);
/// Days since 1970-01-01 for a valid date (no zone involved).
int64_t days_from_civil(const std::string& date);
std::string add_days(const std::string& date, int days);

} // namespace bento::domain
