// RE2-syntax parser -> NFA program -> Pike VM (see regex.h).
#include "text/regex.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "text/strings_ops.h"
#include "text/utf8.h"

namespace walle::text {

namespace {

constexpr int kMaxDepth = 200;          // nesting of groups: bounds the parser's recursion
constexpr int kMaxRepeat = 1000;        // RE2's limit on {n,m}
constexpr size_t kMaxProgram = 100000;  // instructions, after repetitions are expanded

struct Range {
  char32_t lo, hi;
};

struct CharClass {
  std::vector<Range> ranges;
  bool negated = false;
  bool icase = false;  // also matches the other case of the character
  bool contains(char32_t c) const {
    for (const Range& r : ranges)
      if (c >= r.lo && c <= r.hi) return true;
    return false;
  }
  bool matches(char32_t c) const {
    bool in = contains(c) || (icase && (contains(simple_upper(c)) || contains(simple_lower(c))));
    return in != negated;
  }
};

enum class Assert { TextStart, TextEnd, LineStart, LineEnd, WordBoundary, NotWordBoundary };
enum class Kind { Empty, Class, Any, Assertion, Concat, Alt, Repeat };

struct Node {
  Kind kind = Kind::Empty;
  int cls = -1;         // Class: index into the parser's classes
  bool dotall = false;  // Any: also matches \n
  Assert assertion = Assert::TextStart;
  std::vector<int> kids;  // Concat, Alt; Repeat: its one operand
  int min = 0, max = -1;  // Repeat; max -1 = unbounded
};

struct Flags {
  bool icase = false, dotall = false, multiline = false;
};

bool is_word(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

std::vector<Range> complement(std::vector<Range> r) {
  std::sort(r.begin(), r.end(), [](const Range& a, const Range& b) { return a.lo < b.lo; });
  std::vector<Range> out;
  char32_t next = 0;
  for (const Range& x : r) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    next = std::max<char32_t>(next, x.hi + 1);
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return out;
}

// \d \s \w as RE2 defines them (ASCII only); upper case letters negate.
bool perl_class(char32_t letter, std::vector<Range>* out) {
  std::vector<Range> r;
  switch (letter) {
    case 'd':
    case 'D': r = {{'0', '9'}}; break;
    case 's':
    case 'S': r = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}}; break;
    case 'w':
    case 'W': r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}; break;
    default: return false;
  }
  if (letter == 'D' || letter == 'S' || letter == 'W') r = complement(r);
  out->insert(out->end(), r.begin(), r.end());
  return true;
}

bool posix_class(const std::string& name, std::vector<Range>* out) {
  static const struct {
    const char* name;
    std::vector<Range> ranges;
  } table[] = {
      {"alnum", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}}},
      {"alpha", {{'A', 'Z'}, {'a', 'z'}}},
      {"ascii", {{0, 0x7F}}},
      {"blank", {{'\t', '\t'}, {' ', ' '}}},
      {"cntrl", {{0, 0x1F}, {0x7F, 0x7F}}},
      {"digit", {{'0', '9'}}},
      {"graph", {{'!', '~'}}},
      {"lower", {{'a', 'z'}}},
      {"print", {{' ', '~'}}},
      {"punct", {{'!', '/'}, {':', '@'}, {'[', '`'}, {'{', '~'}}},
      {"space", {{'\t', '\r'}, {' ', ' '}}},
      {"upper", {{'A', 'Z'}}},
      {"word", {{'0', '9'}, {'A', 'Z'}, {'a', 'z'}, {'_', '_'}}},
      {"xdigit", {{'0', '9'}, {'A', 'F'}, {'a', 'f'}}},
  };
  for (const auto& e : table)
    if (name == e.name) {
      out->insert(out->end(), e.ranges.begin(), e.ranges.end());
      return true;
    }
  return false;
}

class Parser {
 public:
  Parser(std::string_view pattern) : source_(pattern), p_(utf8_decode(pattern)) {}

  int parse() {
    Flags flags;
    int root = alternation(flags, 0);
    if (pos_ < p_.size()) fail("unmatched ')'");
    return root;
  }

  std::vector<Node> nodes;
  std::vector<CharClass> classes;

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorKind::Invalid, "invalid regular expression '" + std::string(source_) + "': " + why +
                                        " at position " + std::to_string(pos_));
  }
  bool more() const { return pos_ < p_.size(); }
  char32_t peek(size_t ahead = 0) const { return pos_ + ahead < p_.size() ? p_[pos_ + ahead] : 0; }

  int add(Node n) {
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  }
  int add_class(CharClass c) {
    classes.push_back(std::move(c));
    Node n;
    n.kind = Kind::Class;
    n.cls = static_cast<int>(classes.size()) - 1;
    return add(n);
  }
  int literal(char32_t c, const Flags& f) {
    CharClass cc;
    cc.ranges = {{c, c}};
    cc.icase = f.icase;
    return add_class(cc);
  }
  int assertion(Assert a) {
    Node n;
    n.kind = Kind::Assertion;
    n.assertion = a;
    return add(n);
  }

  int alternation(Flags& f, int depth) {
    if (depth > kMaxDepth) fail("groups nested too deeply");
    std::vector<int> alts{concatenation(f, depth)};
    while (more() && peek() == '|') {
      ++pos_;
      alts.push_back(concatenation(f, depth));
    }
    if (alts.size() == 1) return alts[0];
    Node n;
    n.kind = Kind::Alt;
    n.kids = alts;
    return add(n);
  }

  int concatenation(Flags& f, int depth) {
    Node n;
    n.kind = Kind::Concat;
    while (more() && peek() != '|' && peek() != ')') n.kids.push_back(repetition(f, depth));
    return add(n);
  }

  // "{n}", "{n,}" or "{n,m}" at pos_: parses it when it is one (else '{' is a literal).
  bool counted(int* min, int* max, bool consume) {
    size_t p = pos_ + 1;
    auto number = [&](int* out) {
      size_t start = p;
      int64_t v = 0;
      while (p < p_.size() && p_[p] >= '0' && p_[p] <= '9') {
        v = std::min<int64_t>(v * 10 + (p_[p] - '0'), 1 << 20);
        ++p;
      }
      *out = static_cast<int>(v);
      return p > start;
    };
    int lo = 0, hi = 0;
    if (!number(&lo)) return false;
    hi = lo;
    if (p < p_.size() && p_[p] == ',') {
      ++p;
      if (!number(&hi)) hi = -1;
    }
    if (p >= p_.size() || p_[p] != '}') return false;
    if (consume) {
      pos_ = p + 1;
      if (lo > kMaxRepeat || hi > kMaxRepeat) fail("repetition count above " + std::to_string(kMaxRepeat));
      if (hi >= 0 && hi < lo) fail("repetition {" + std::to_string(lo) + "," + std::to_string(hi) + "} has max < min");
      *min = lo;
      *max = hi;
    }
    return true;
  }

  int repetition(Flags& f, int depth) {
    int x = atom(f, depth);
    bool repeated = false;
    while (more()) {
      int min, max;
      char32_t c = peek();
      if (c == '*') {
        min = 0;
        max = -1;
        ++pos_;
      } else if (c == '+') {
        min = 1;
        max = -1;
        ++pos_;
      } else if (c == '?') {
        min = 0;
        max = 1;
        ++pos_;
      } else if (c == '{' && counted(&min, &max, false))
        counted(&min, &max, true);
      else
        break;
      if (repeated) fail("repetition of a repetition (RE2 rejects it)");
      repeated = true;
      if (more() && peek() == '?') ++pos_;  // lazy: the same set of full matches
      Node n;
      n.kind = Kind::Repeat;
      n.kids = {x};
      n.min = min;
      n.max = max;
      x = add(n);
    }
    return x;
  }

  int group(Flags& f, int depth) {
    ++pos_;  // '('
    Flags inner = f;
    if (peek() == '?') {
      char32_t k = peek(1);
      if (k == '=' || k == '!' || (k == '<' && (peek(2) == '=' || peek(2) == '!')))
        fail("lookaround is not supported (RE2 syntax has none)");
      if (k == 'P' || k == '<') {  // named capture group: the name is irrelevant here
        if (k == 'P' && peek(2) != '<') fail("invalid named group");
        pos_ += k == 'P' ? 3 : 2;
        size_t start = pos_;
        while (more() && peek() != '>') ++pos_;
        if (!more() || pos_ == start) fail("invalid named group");
        ++pos_;
      } else {
        pos_ += 1;
        bool negate = false, any = false;
        while (more() && peek() != ':' && peek() != ')') {
          char32_t c = peek();
          if (c == '-' && !negate)
            negate = true;
          else if (c == 'i')
            inner.icase = !negate;
          else if (c == 's')
            inner.dotall = !negate;
          else if (c == 'm')
            inner.multiline = !negate;
          else if (c == 'U') { /* ungreedy: no effect on full matching */
          } else
            fail("unknown group flag");
          any = any || c != '-';
          ++pos_;
        }
        if (!more()) fail("missing ')'");
        if (peek() == ')') {  // (?flags): applies to the rest of the enclosing group
          if (!any) fail("empty flag group");
          ++pos_;
          f = inner;
          return add(Node{});
        }
        ++pos_;  // ':'
      }
    }
    int x = alternation(inner, depth + 1);
    if (!more() || peek() != ')') fail("missing ')'");
    ++pos_;
    return x;
  }

  char32_t hex_escape() {  // after "\x"
    auto hex = [](char32_t c) -> int {
      if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
      if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
      if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
      return -1;
    };
    char32_t v = 0;
    if (peek() == '{') {
      ++pos_;
      size_t start = pos_;
      while (more() && peek() != '}') {
        int h = hex(peek());
        if (h < 0 || pos_ - start >= 8) fail("bad \\x{...} escape");
        v = v * 16 + static_cast<char32_t>(h);
        ++pos_;
      }
      if (!more() || pos_ == start) fail("bad \\x{...} escape");
      ++pos_;
    } else {
      for (int k = 0; k < 2; ++k) {
        int h = hex(peek());
        if (h < 0) fail("bad \\x escape");
        v = v * 16 + static_cast<char32_t>(h);
        ++pos_;
      }
    }
    if (v > 0x10FFFF) fail("code point above U+10FFFF");
    return v;
  }

  // A character escape shared by classes and atoms (after the backslash): the character, or
  // false when `c` starts some other kind of escape.
  bool char_escape(char32_t c, char32_t* out) {
    switch (c) {
      case 'n': *out = '\n'; return true;
      case 't': *out = '\t'; return true;
      case 'r': *out = '\r'; return true;
      case 'f': *out = '\f'; return true;
      case 'v': *out = '\v'; return true;
      case 'a': *out = '\a'; return true;
      case 'x': *out = hex_escape(); return true;
      default: break;
    }
    if (c < 0x80 && !is_word(c)) {  // escaped punctuation stands for itself
      *out = c;
      return true;
    }
    return false;
  }

  [[noreturn]] void bad_escape(char32_t c) {
    if (c >= '0' && c <= '9') fail("backreferences and octal escapes are not supported");
    if (c == 'p' || c == 'P') fail("Unicode classes (\\p, \\P) are not supported");
    fail(std::string("invalid escape \\") + utf8_encode(std::u32string(1, c)));
  }

  int escape(const Flags& f) {
    ++pos_;  // '\'
    if (!more()) fail("trailing backslash");
    char32_t c = peek();
    ++pos_;
    CharClass cc;
    if (perl_class(c, &cc.ranges)) return add_class(cc);
    if (c == 'b') return assertion(Assert::WordBoundary);
    if (c == 'B') return assertion(Assert::NotWordBoundary);
    if (c == 'A') return assertion(Assert::TextStart);
    if (c == 'z') return assertion(Assert::TextEnd);
    char32_t lit;
    if (char_escape(c, &lit)) return literal(lit, f);
    --pos_;
    bad_escape(c);
  }

  char32_t class_char() {  // one character inside [...], escapes resolved
    char32_t c = peek();
    ++pos_;
    if (c != '\\') return c;
    if (!more()) fail("trailing backslash");
    char32_t e = peek();
    ++pos_;
    char32_t lit;
    if (char_escape(e, &lit)) return lit;
    --pos_;
    bad_escape(e);
  }

  int char_class(const Flags& f) {
    ++pos_;  // '['
    CharClass cc;
    cc.icase = f.icase;
    if (peek() == '^') {
      cc.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (!more()) fail("missing ']'");
      char32_t c = peek();
      if (c == ']' && !first) break;
      first = false;
      if (c == '[' && peek(1) == ':') {
        size_t end = pos_ + 2;
        while (end < p_.size() && p_[end] != ':') ++end;
        if (end + 1 < p_.size() && p_[end + 1] == ']') {
          std::string name = utf8_encode(p_.substr(pos_ + 2, end - pos_ - 2));
          if (!posix_class(name, &cc.ranges)) fail("unknown class [:" + name + ":]");
          pos_ = end + 2;
          continue;
        }
      }
      if (c == '\\' && perl_class(peek(1), &cc.ranges)) {
        pos_ += 2;
        continue;
      }
      char32_t lo = class_char(), hi = lo;
      if (peek() == '-' && peek(1) != ']' && pos_ + 1 < p_.size()) {
        ++pos_;
        hi = class_char();
        if (hi < lo) fail("bad character range");
      }
      cc.ranges.push_back({lo, hi});
    }
    ++pos_;  // ']'
    return add_class(cc);
  }

  int atom(Flags& f, int depth) {
    char32_t c = peek();
    switch (c) {
      case '(': return group(f, depth);
      case '[': return char_class(f);
      case '\\': return escape(f);
      case '.': {
        ++pos_;
        Node n;
        n.kind = Kind::Any;
        n.dotall = f.dotall;
        return add(n);
      }
      case '^': ++pos_; return assertion(f.multiline ? Assert::LineStart : Assert::TextStart);
      case '$': ++pos_; return assertion(f.multiline ? Assert::LineEnd : Assert::TextEnd);
      case '*':
      case '+':
      case '?': fail("missing argument to repetition operator");
      case '{': {
        int a, b;
        if (counted(&a, &b, false)) fail("missing argument to repetition operator");
        break;
      }
      default: break;
    }
    ++pos_;
    return literal(c, f);
  }

  std::string_view source_;
  std::u32string p_;
  size_t pos_ = 0;
};

enum class Op { Char, Any, AnyNotNewline, Split, Jmp, Assertion, Match };

struct Inst {
  Op op;
  int x = 0, y = 0;  // Split: both targets; Jmp: x
  int cls = -1;
  Assert assertion = Assert::TextStart;
};

class Compiler {
 public:
  Compiler(const std::vector<Node>& nodes, std::string_view pattern) : nodes_(nodes), pattern_(pattern) {}

  std::vector<Inst> compile(int root) {
    emit(root);
    push({Op::Match});
    return std::move(prog_);
  }

 private:
  int push(Inst i) {
    if (prog_.size() >= kMaxProgram)
      throw Error(ErrorKind::Invalid,
                  "regular expression '" + std::string(pattern_) + "' is too large once its repetitions are expanded");
    prog_.push_back(i);
    return static_cast<int>(prog_.size()) - 1;
  }
  int here() const { return static_cast<int>(prog_.size()); }

  void emit(int id) {
    const Node& n = nodes_[id];
    switch (n.kind) {
      case Kind::Empty: break;
      case Kind::Class: {
        Inst i{Op::Char};
        i.cls = n.cls;
        push(i);
        break;
      }
      case Kind::Any: push({n.dotall ? Op::Any : Op::AnyNotNewline}); break;
      case Kind::Assertion: {
        Inst i{Op::Assertion};
        i.assertion = n.assertion;
        push(i);
        break;
      }
      case Kind::Concat:
        for (int k : n.kids) emit(k);
        break;
      case Kind::Alt: {
        std::vector<int> jumps;
        for (size_t k = 0; k + 1 < n.kids.size(); ++k) {
          int split = push({Op::Split});
          prog_[split].x = here();
          emit(n.kids[k]);
          jumps.push_back(push({Op::Jmp}));
          prog_[split].y = here();
        }
        emit(n.kids.back());
        for (int j : jumps) prog_[j].x = here();
        break;
      }
      case Kind::Repeat: {
        for (int k = 0; k < n.min; ++k) emit(n.kids[0]);
        if (n.max < 0) {  // x*: L: split body, out; body; jmp L
          int split = push({Op::Split});
          prog_[split].x = here();
          emit(n.kids[0]);
          Inst back{Op::Jmp};
          back.x = split;
          push(back);
          prog_[split].y = here();
        } else {  // (x(x(x)?)?)?: every optional copy may skip to the end
          std::vector<int> splits;
          for (int k = n.min; k < n.max; ++k) {
            int split = push({Op::Split});
            prog_[split].x = here();
            splits.push_back(split);
            emit(n.kids[0]);
          }
          for (int s : splits) prog_[s].y = here();
        }
        break;
      }
    }
  }

  const std::vector<Node>& nodes_;
  std::string_view pattern_;
  std::vector<Inst> prog_;
};

}  // namespace

struct Regex::Program {
  std::vector<Inst> code;
  std::vector<CharClass> classes;
};

Regex::Regex(std::string_view pattern) : program_(std::make_unique<Program>()) {
  Parser parser(pattern);
  int root = parser.parse();
  program_->code = Compiler(parser.nodes, pattern).compile(root);
  program_->classes = std::move(parser.classes);
}

Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;

bool Regex::full_match(std::string_view utf8) const {
  const std::vector<Inst>& code = program_->code;
  const std::u32string text = utf8_decode(utf8);
  const size_t n = text.size();
  std::vector<uint32_t> mark(code.size(), 0);  // generation in which a pc joined a list
  uint32_t generation = 0;
  std::vector<int> current, next, stack;

  auto holds = [&](Assert a, size_t pos) {
    char32_t prev = pos > 0 ? text[pos - 1] : 0, cur = pos < n ? text[pos] : 0;
    switch (a) {
      case Assert::TextStart: return pos == 0;
      case Assert::TextEnd: return pos == n;
      case Assert::LineStart: return pos == 0 || prev == '\n';
      case Assert::LineEnd: return pos == n || cur == '\n';
      case Assert::WordBoundary: return (pos > 0 && is_word(prev)) != (pos < n && is_word(cur));
      case Assert::NotWordBoundary: return (pos > 0 && is_word(prev)) == (pos < n && is_word(cur));
    }
    return false;
  };
  // Adds pc and everything reachable from it without consuming a character (an explicit
  // stack, not recursion); keeps the pcs that consume or match.
  auto add = [&](std::vector<int>& list, int start, size_t pos) {
    stack.push_back(start);
    while (!stack.empty()) {
      int pc = stack.back();
      stack.pop_back();
      if (mark[pc] == generation) continue;
      mark[pc] = generation;
      const Inst& i = code[pc];
      switch (i.op) {
        case Op::Jmp: stack.push_back(i.x); break;
        case Op::Split:
          stack.push_back(i.y);
          stack.push_back(i.x);
          break;
        case Op::Assertion:
          if (holds(i.assertion, pos)) stack.push_back(pc + 1);
          break;
        default: list.push_back(pc);
      }
    }
  };

  ++generation;
  add(current, 0, 0);
  for (size_t pos = 0; pos < n && !current.empty(); ++pos) {
    ++generation;
    next.clear();
    char32_t c = text[pos];
    for (int pc : current) {
      const Inst& i = code[pc];
      bool step = (i.op == Op::Char && program_->classes[i.cls].matches(c)) || i.op == Op::Any ||
                  (i.op == Op::AnyNotNewline && c != '\n');
      if (step) add(next, pc + 1, pos + 1);
    }
    std::swap(current, next);
  }
  if (n > 0 && current.empty()) return false;
  for (int pc : current)
    if (code[pc].op == Op::Match) return true;
  return false;
}

}  // namespace walle::text
