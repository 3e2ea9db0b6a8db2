#include "eval/sql/sql_tokenizer.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace fathom::eval {
namespace {

// Bytes >= 0x80 belong to identifiers so that UTF-8 names survive as one word.
bool IsWordByte(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return absl::ascii_isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

// digits [. digits] [e [+-] digits]: the whole run must match, or it is a word ("2nd_place").
bool IsNumber(absl::string_view run) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < run.size() && absl::ascii_isdigit(static_cast<unsigned char>(run[i]))) ++i;
    return i > start;
  };
  const bool int_part = digits();
  bool frac_part = false;
  if (i < run.size() && run[i] == '.') {
    ++i;
    frac_part = digits();
  }
  if (!int_part && !frac_part) return false;
  if (i < run.size() && (run[i] == 'e' || run[i] == 'E')) {
    ++i;
    if (i < run.size() && (run[i] == '+' || run[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == run.size();
}

absl::Status TokenError(absl::string_view sql, size_t offset, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " at offset ", offset, " of: ", std::string(sql)));
}

}  // namespace

absl::StatusOr<std::vector<SqlToken>> TokenizeSql(absl::string_view sql) {
  std::vector<SqlToken> tokens;
  size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const size_t start = i;
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      if (end == absl::string_view::npos) return TokenError(sql, start, "unterminated comment");
      i = end + 2;
    } else if (c == '\'' || c == '"') {
      // A doubled quote inside the literal is an escaped quote, as in standard SQL.
      ++i;
      while (true) {
        if (i >= sql.size()) return TokenError(sql, start, "unterminated string");
        if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      tokens.push_back({SqlTokenKind::kString, std::string(sql.substr(start, i - start)), start});
    } else if (c == '`') {
      const size_t end = sql.find('`', i + 1);
      if (end == absl::string_view::npos) return TokenError(sql, start, "unterminated `name`");
      tokens.push_back(
          {SqlTokenKind::kWord, absl::AsciiStrToLower(sql.substr(i + 1, end - i - 1)), start});
      i = end + 1;
    } else if (IsWordByte(c) || (c == '.' && i + 1 < sql.size() &&
                                 absl::ascii_isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      while (i < sql.size() && (IsWordByte(sql[i]) || sql[i] == '.')) ++i;
      // "1e-5": the run stops at the sign; take the exponent's sign and digits along.
      if (i + 1 < sql.size() && (sql[i] == '-' || sql[i] == '+') &&
          (sql[i - 1] == 'e' || sql[i - 1] == 'E') &&
          IsNumber(absl::StrCat(sql.substr(start, i - start), "0"))) {
        ++i;
        while (i < sql.size() && absl::ascii_isdigit(static_cast<unsigned char>(sql[i]))) ++i;
      }
      const absl::string_view run = sql.substr(start, i - start);
      if (IsNumber(run)) {
        tokens.push_back({SqlTokenKind::kNumber, std::string(run), start});
      } else {
        tokens.push_back({SqlTokenKind::kWord, absl::AsciiStrToLower(run), start});
      }
    } else {
      static constexpr absl::string_view kTwoChar[] = {"<=", ">=", "!=", "<>", "||"};
      std::string symbol;
      for (absl::string_view two : kTwoChar) {
        if (sql.substr(i, 2) == two) symbol = std::string(two);
      }
      if (symbol.empty()) {
        if (absl::string_view("(),;.*+-/%=<>").find(c) == absl::string_view::npos) {
          return TokenError(sql, start,
                            absl::StrCat("unexpected character '", std::string(1, c), "'"));
        }
        symbol = std::string(1, c);
      }
      i += symbol.size();
      tokens.push_back({SqlTokenKind::kSymbol, std::move(symbol), start});
    }
  }
  return tokens;
}

bool HasTopLevelOrderBy(const std::vector<SqlToken>& tokens) {
  int depth = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].Is("(")) {
      ++depth;
    } else if (tokens[i].Is(")")) {
      --depth;
    } else if (depth == 0 && tokens[i].Is("order") && i + 1 < tokens.size() &&
               tokens[i + 1].Is("by")) {
      return true;
    }
  }
  return false;
}

}  // namespace fathom::eval
