#include "eval/sql/mysql_dump.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace fathom::eval {
namespace {

struct Statement {
  std::string text;
  int line = 1;  // where it starts in the dump
};

absl::Status DumpError(const std::string& path, int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", what));
}

// Splits on ';' outside quotes, dropping comments and rewriting MySQL string literals as
// SQLite ones.
absl::StatusOr<std::vector<Statement>> SplitStatements(absl::string_view dump,
                                                       const std::string& path) {
  std::vector<Statement> out;
  Statement current;
  int line = 1;
  auto text_starts = [&] {
    if (absl::StripLeadingAsciiWhitespace(current.text).empty()) current.line = line;
  };
  size_t i = 0;
  while (i < dump.size()) {
    const char c = dump[i];
    const char next = i + 1 < dump.size() ? dump[i + 1] : '\0';
    if ((c == '-' && next == '-') || c == '#') {
      while (i < dump.size() && dump[i] != '\n') ++i;
    } else if (c == '/' && next == '*') {
      const size_t end = dump.find("*/", i + 2);
      if (end == absl::string_view::npos) return DumpError(path, line, "unterminated comment");
      for (size_t k = i; k < end; ++k) line += dump[k] == '\n' ? 1 : 0;
      i = end + 2;
    } else if (c == '\'' || c == '"') {
      text_starts();
      const int start_line = line;
      std::string literal = "'";
      ++i;
      while (true) {
        if (i >= dump.size()) return DumpError(path, start_line, "unterminated string");
        const char s = dump[i];
        if (s == '\n') ++line;
        if (s == '\\' && i + 1 < dump.size()) {
          const char e = dump[i + 1];
          i += 2;
          switch (e) {
            case 'n':
              literal += '\n';
              break;
            case 'r':
              literal += '\r';
              break;
            case 't':
              literal += '\t';
              break;
            case '0':
              break;  // NUL cannot live in a C string; MySQL dumps write it for binary
            case '\'':
              literal += "''";
              break;
            default:
              literal += e;
              break;
          }
          continue;
        }
        ++i;
        if (s == c) {
          if (i < dump.size() && dump[i] == c) {  // doubled quote
            literal += c == '\'' ? "''" : "\"";
            ++i;
            continue;
          }
          break;
        }
        literal += s == '\'' ? "''" : std::string(1, s);
      }
      current.text += literal + "'";
    } else if (c == '`') {
      text_starts();
      const size_t end = dump.find('`', i + 1);
      if (end == absl::string_view::npos) return DumpError(path, line, "unterminated `name`");
      current.text += std::string(dump.substr(i, end + 1 - i));
      i = end + 1;
    } else if (c == ';') {
      if (!absl::StripAsciiWhitespace(current.text).empty()) out.push_back(std::move(current));
      current = Statement();
      ++i;
    } else {
      if (c == '\n') ++line;
      if (!absl::ascii_isspace(static_cast<unsigned char>(c))) text_starts();
      current.text += c;
      ++i;
    }
  }
  if (!absl::StripAsciiWhitespace(current.text).empty()) out.push_back(std::move(current));
  return out;
}

// Splits the column list of CREATE TABLE on top-level commas.
std::vector<std::string> SplitDefinitions(absl::string_view body) {
  std::vector<std::string> out;
  int depth = 0;
  char quote = 0;
  std::string current;
  for (char c : body) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '`') {
      quote = c;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      out.push_back(std::string(absl::StripAsciiWhitespace(current)));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!absl::StripAsciiWhitespace(current).empty()) {
    out.push_back(std::string(absl::StripAsciiWhitespace(current)));
  }
  return out;
}

absl::StatusOr<std::string> FixCreateTable(const Statement& statement, const std::string& path) {
  const std::string& text = statement.text;
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) {
    return DumpError(path, statement.line, "CREATE TABLE without a column list");
  }
  std::vector<std::string> definitions;
  for (std::string& def :
       SplitDefinitions(absl::string_view(text).substr(open + 1, close - open - 1))) {
    const std::string upper = absl::AsciiStrToUpper(def);
    if (absl::StartsWith(upper, "KEY ") || absl::StartsWith(upper, "INDEX ") ||
        absl::StartsWith(upper, "FULLTEXT ") || absl::StartsWith(upper, "SPATIAL ")) {
      continue;  // secondary indexes: only speed, and MySQL-only syntax
    }
    if (absl::StartsWith(upper, "UNIQUE KEY ") || absl::StartsWith(upper, "UNIQUE INDEX ")) {
      const size_t cols = def.find('(');
      if (cols != std::string::npos) definitions.push_back("UNIQUE " + def.substr(cols));
      continue;
    }
    for (absl::string_view word : {" AUTO_INCREMENT", " auto_increment"}) {
      def = absl::StrReplaceAll(def, {{word, ""}});
    }
    definitions.push_back(std::move(def));
  }
  return absl::StrCat(absl::StripAsciiWhitespace(text.substr(0, open)), " (\n  ",
                      absl::StrJoin(definitions, ",\n  "), "\n)");
}

}  // namespace

absl::StatusOr<std::vector<std::string>> MySqlDumpToSqlite(absl::string_view dump,
                                                           const std::string& path) {
  absl::StatusOr<std::vector<Statement>> statements = SplitStatements(dump, path);
  if (!statements.ok()) return statements.status();
  std::vector<std::string> out;
  for (const Statement& statement : *statements) {
    const std::string text(absl::StripAsciiWhitespace(statement.text));
    const std::string upper = absl::AsciiStrToUpper(text.substr(0, 32));
    if (absl::StartsWith(upper, "LOCK TABLES") || absl::StartsWith(upper, "UNLOCK TABLES") ||
        absl::StartsWith(upper, "SET ")) {
      continue;
    }
    if (absl::StartsWith(upper, "CREATE TABLE")) {
      absl::StatusOr<std::string> fixed = FixCreateTable({text, statement.line}, path);
      if (!fixed.ok()) return fixed.status();
      out.push_back(*std::move(fixed));
    } else if (absl::StartsWith(upper, "INSERT ") || absl::StartsWith(upper, "DROP TABLE")) {
      out.push_back(text);
    } else {
      return DumpError(path, statement.line,
                       absl::StrCat("unsupported statement in MySQL dump: ", text.substr(0, 60)));
    }
  }
  return out;
}

}  // namespace fathom::eval
