// Numbers to text as numpy's astype(str) writes them, and text to numbers for Cast.
#include <locale.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/dtype.h"
#include "text/strings_ops.h"

namespace walle::text {

namespace {

// Shortest round-trip digits of `value` in the type with `bits` significant bits, as
// "d.ddd" + decimal exponent (std::to_chars is locale-independent and exact).
void shortest_digits(double value, int bits, std::string* digits, int* exponent) {
  char buf[64];
  std::to_chars_result r;
  if (bits == 53) {
    r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  } else if (bits == 24) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(value), std::chars_format::scientific);
  } else {
    // float16 / bfloat16: the fewest significant digits that read back to the same value
    // (numpy's Dragon4 "unique" mode gives the same digits: the nearest decimal of that length).
    auto narrow = [bits](float f) { return bits == 11 ? float_to_half(f) : float_to_bf16(f); };
    uint16_t want = narrow(static_cast<float>(value));
    for (int precision = 0; precision < 9; ++precision) {
      r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific, precision);
      float back = 0;
      std::from_chars(buf, r.ptr, back);
      if (narrow(back) == want) break;
    }
  }
  std::string s(buf, r.ptr);
  size_t e = s.find('e');
  *exponent = std::atoi(s.c_str() + e + 1);
  std::string mantissa = s.substr(0, e);
  digits->clear();
  for (char c : mantissa)
    if (std::isdigit(static_cast<unsigned char>(c))) digits->push_back(c);
  while (digits->size() > 1 && digits->back() == '0') digits->pop_back();
}

// Positional cutoff of numpy's float formatting: 10 ** (digits of precision).
double positional_limit(int bits) { return bits == 53 ? 1e16 : bits == 24 ? 1e6 : bits == 11 ? 1e3 : 1e3; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool iequals(const std::string& a, const char* b) {
  if (a.size() != std::strlen(b)) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

}  // namespace

std::string format_float(double value, int bits) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  std::string sign = std::signbit(value) ? "-" : "";
  if (value == 0) return sign + "0.0";
  std::string digits;
  int exp10 = 0;
  shortest_digits(std::fabs(value), bits, &digits, &exp10);
  double mag = std::fabs(value);
  if (mag >= 1e-4 && mag < positional_limit(bits)) {
    std::string out;
    if (exp10 < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp10 - 1), '0') + digits;
    } else {
      size_t int_len = static_cast<size_t>(exp10) + 1;
      if (digits.size() <= int_len)
        out = digits + std::string(int_len - digits.size(), '0') + ".0";
      else
        out = digits.substr(0, int_len) + "." + digits.substr(int_len);
    }
    return sign + out;
  }
  std::string mantissa = digits.size() > 1 ? digits.substr(0, 1) + "." + digits.substr(1) : digits;
  char exp_text[16];
  std::snprintf(exp_text, sizeof(exp_text), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  return sign + mantissa + exp_text;
}

bool parse_double(std::string_view text, double* out) {
  std::string s = trim(text);
  if (s.empty()) return false;
  bool negative = s[0] == '-';
  std::string body = (s[0] == '+' || s[0] == '-') ? s.substr(1) : s;
  if (iequals(body, "inf") || iequals(body, "infinity")) {
    *out = negative ? -INFINITY : INFINITY;
    return true;
  }
  if (iequals(body, "nan")) {
    *out = negative ? -NAN : NAN;
    return true;
  }
  if (body.empty() || !(std::isdigit(static_cast<unsigned char>(body[0])) || body[0] == '.')) return false;
  double v = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (r.ptr != body.data() + body.size()) return false;
  if (r.ec == std::errc::result_out_of_range) {
    // Too large or too small for a double: the syntax is valid, so strtod (in the C locale,
    // whatever the process's locale) gives the infinity or the zero.
    static locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", nullptr);
    v = strtod_l(body.c_str(), nullptr, c_locale);
  } else if (r.ec != std::errc()) {
    return false;
  }
  *out = negative ? -v : v;
  return true;
}

bool parse_int64(std::string_view text, int64_t* out) {
  std::string s = trim(text);
  if (!s.empty() && s[0] == '+') s = s.substr(1);
  if (s.empty() || s[0] == '+') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace walle::text
