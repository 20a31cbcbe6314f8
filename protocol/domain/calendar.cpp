#include "protocol/domain/calendar.hpp"

#include <atomic>
#include <chrono>
#include <climits>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <sys/stat.h>

namespace bento::domain {

namespace {

bool all_digits(const std::string& s, size_t from, size_t len) {
  for (size_t i = from; i < from + len; ++i)
    if (s[i] < '0' || s[i] > '9')
      return false;
  return true;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : days[m - 1];
}

// Howard Hinnant's civil-from-days / days-from-civil algorithms.
int64_t civil_to_days(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string days_to_civil(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y + (m <= 2)), m, d);
  return buf;
}

// Bumped by set_time_zone: a date remembered under another zone is not this zone's.
std::atomic<uint64_t> zone_generation{0};

std::tm local_tm(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

} // namespace

bool set_time_zone(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != std::string::npos)
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+'))
      return false;
  struct stat st{};
  if (name != "UTC" && ::stat(("/usr/share/zoneinfo/" + name).c_str(), &st) != 0)
    return false;
  ::setenv("TZ", name.c_str(), 1);
  ::tzset();
  zone_generation.fetch_add(1, std::memory_order_release);
  return true;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string local_date(int64_t unix_ms) {
  // Every menu read and every restaurant command asks for today: localtime_r (which takes glibc's zone lock)
  // and a format each time, for a date that changes once a day. Remembered per thread for the second asked.
  struct remembered {
    int64_t second = INT64_MIN;
    uint64_t zone = ~uint64_t{0};
    std::string date;
  };
  thread_local remembered last;
  int64_t second = unix_ms / 1000; // the time_t local_tm converts
  auto zone = zone_generation.load(std::memory_order_acquire);
  if (second == last.second && zone == last.zone)
    return last.date;
  auto tm = local_tm(unix_ms);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  last = remembered{second, zone, buf};
  return last.date;
}

meal_slot next_meal_slot(int64_t unix_ms) {
  auto tm = local_tm(unix_ms);
  auto minutes = tm.tm_hour * 60 + tm.tm_min;
  auto today = local_date(unix_ms);
  if (minutes < 10 * 60)
    return {meal::breakfast, today};
  if (minutes < 14 * 60)
    return {meal::lunch, today};
  if (minutes < 20 * 60)
    return {meal::dinner, today};
  return {meal::breakfast, add_days(today, 1)};
}

bool is_valid_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s, 0, 4) || !all_digits(s, 5, 2)
      || !all_digits(s, 8, 2))
    return false;
  int y = std::atoi(s.substr(0, 4).c_str());
  int m = std::atoi(s.substr(5, 2).c_str());
  int d = std::atoi(s.substr(8, 2).c_str());
  return y >= 1970 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool is_valid_month(const std::string& s) {
  if (s.size() != 7 || s[4] != '-' || !all_digits(s, 0, 4) || !all_digits(s, 5, 2))
    return false;
  int m = std::atoi(s.substr(5, 2).c_str());
  return std::atoi(s.substr(0, 4).c_str()) >= 1970 && m >= 1 && m <= 12;
}

int64_t days_from_civil(const std::string& date) {
  return civil_to_days(std::atoi(date.substr(0, 4).c_str()),
                       static_cast<unsigned>(std::atoi(date.substr(5, 2).c_str())),
                       static_cast<unsigned>(std::atoi(date.substr(8, 2).c_str())));
}

std::string add_days(const std::string& date, int days) {
  return days_to_civil(days_from_civil(date) + days);
}

} // namespace bento::domain
