// sacreBLEU's tokenisers on the cases where implementations usually differ. Each expectation
// is worked out from sacreBLEU 2.x's regexes in the comment beside it.
#include <string>
#include <vector>

#include "eval/bleu/python_text.h"
#include "eval/bleu/tokenizer.h"
#include "eval/bleu/unicode_tables.h"
#include "gtest/gtest.h"

namespace fathom::eval {
namespace {

std::string T13a(absl::string_view line) { return TokenizeToString(Tokenizer::k13a, line); }
std::string Intl(absl::string_view line) { return TokenizeToString(Tokenizer::kIntl, line); }

TEST(BleuTokenizerTest, ThirteenAKeepsNumbersTogether) {
  // '.' and ',' stay between digits: neither ([^0-9])([.,]) nor ([.,])([^0-9]) matches.
  EXPECT_EQ(T13a("3.14"), "3.14");
  EXPECT_EQ(T13a("1,000"), "1,000");
  EXPECT_EQ(T13a("1,000."), "1,000 .");  // the final '.' has the padding space after it
  EXPECT_EQ(T13a("pi is 3.14."), "pi is 3.14 .");
  EXPECT_EQ(T13a(".5"), ". 5");  // preceded by the padding space, a non-digit
}

TEST(BleuTokenizerTest, ThirteenASplitsAbbreviationsAndKeepsApostrophes) {
  // " U.S. ": "U." and "S." each match ([^0-9])([.,]).
  EXPECT_EQ(T13a("U.S."), "U . S .");
  // The apostrophe is outside every 13a class.
  EXPECT_EQ(T13a("it's"), "it's");
  EXPECT_EQ(T13a("It wasn't surprising."), "It wasn't surprising .");
}

TEST(BleuTokenizerTest, ThirteenADashes) {
  // '-' is only split after a digit: ([0-9])(-) -> "\1 \2 ".
  EXPECT_EQ(T13a("--"), "--");
  EXPECT_EQ(T13a("a--b"), "a--b");
  EXPECT_EQ(T13a("5-year"), "5 - year");
  EXPECT_EQ(T13a("1990-2000"), "1990 - 2000");
  EXPECT_EQ(T13a("well-known"), "well-known");
}

TEST(BleuTokenizerTest, ThirteenAUnescapesEntitiesInOrder) {
  EXPECT_EQ(T13a("&quot;Hi&quot;"), "\" Hi \"");
  EXPECT_EQ(T13a("a &amp; b &lt;c&gt;"), "a & b < c >");
  // "&amp;" goes first, so "&amp;lt;" becomes "&lt;" and then "<".
  EXPECT_EQ(T13a("&amp;lt;"), "<");
  EXPECT_EQ(T13a("&apos;"), "& apos ;");  // not one of the four
  EXPECT_EQ(T13a("a<skipped>b"), "ab");
}

TEST(BleuTokenizerTest, ThirteenARegexesConsumeTheirMatches) {
  // " a.. ": ([^0-9])([.,]) takes "a." and resumes at the second '.', whose successor is a
  // space, so it only gets separated by the third rule.
  EXPECT_EQ(T13a("a.."), "a . .");
  // " a.,5 ": "a." matches rule 2; ",5" matches nothing (digit after, '.' before it was
  // consumed), so ",5" stays one token.
  EXPECT_EQ(T13a("a.,5"), "a . ,5");
  EXPECT_EQ(T13a("x,y"), "x , y");
  EXPECT_EQ(T13a("$5"), "$ 5");
  EXPECT_EQ(T13a("(hi)"), "( hi )");
  EXPECT_EQ(T13a("a/b@c"), "a / b @ c");
}

TEST(BleuTokenizerTest, ThirteenAOnNonAscii) {
  // Multi-byte characters are [^0-9] to the rules; Unicode spaces separate tokens (str.split).
  EXPECT_EQ(T13a("Zahăr."), "Zahăr .");
  EXPECT_EQ(T13a("é,é"), "é , é");
  EXPECT_EQ(T13a("a\u00a0b"), "a b");
  EXPECT_EQ(T13a("a\u3000b"), "a b");
  EXPECT_EQ(T13a("a\u200bb"), "a\u200bb");        // zero width space is not whitespace to Python
  EXPECT_EQ(T13a("«Guten Tag»"), "«Guten Tag»");  // 13a knows only ASCII punctuation
}

TEST(BleuTokenizerTest, Intl) {
  // Punctuation next to non-numbers and every symbol is separated; no padding, so a number
  // keeps its final period, as in mteval-v14.
  EXPECT_EQ(Intl("«Guten Tag»"), "« Guten Tag »");
  EXPECT_EQ(Intl("It wasn't 1,000."), "It wasn ' t 1,000.");
  EXPECT_EQ(Intl("in 2014."), "in 2014.");
  EXPECT_EQ(Intl("3.14"), "3.14");
  EXPECT_EQ(Intl("$5 + 3€"), "$ 5 + 3 €");
  EXPECT_EQ(Intl("U.S."), "U . S .");
  EXPECT_EQ(Intl("a--b"), "a - - b");
}

TEST(BleuTokenizerTest, CharAndNone) {
  EXPECT_EQ(TokenizeToString(Tokenizer::kChar, "ab c"), "a b c");
  EXPECT_EQ(TokenizeToString(Tokenizer::kChar, "Zahăr"), "Z a h ă r");
  EXPECT_EQ(TokenizeToString(Tokenizer::kNone, " a  b.\tc "), "a b. c");
}

TEST(BleuTokenizerTest, ParseNames) {
  EXPECT_EQ(*ParseTokenizer("13a"), Tokenizer::k13a);
  EXPECT_EQ(*ParseTokenizer("intl"), Tokenizer::kIntl);
  EXPECT_FALSE(ParseTokenizer("zh").ok());
  EXPECT_EQ(TokenizerName(Tokenizer::kChar), "char");
}

TEST(BleuPythonTextTest, LowerFollowsPython) {
  std::string out;
  PythonLower("ÄÖÜ ABC", &out);
  EXPECT_EQ(out, "äöü abc");
  // Capital sigma lowers to final sigma at the end of a word (Python's Final_Sigma rule).
  PythonLower("ΟΔΟΣ ΣΑ", &out);
  EXPECT_EQ(out, "οδος σα");
  PythonLower("Σ", &out);
  EXPECT_EQ(out, "σ");
  PythonLower("İ", &out);  // two code points: i + combining dot above
  EXPECT_EQ(out, "i\u0307");
}

TEST(BleuPythonTextTest, SplitAgreesWithTheTableOnAscii) {
  for (char c = 1; c > 0 && c < 127; ++c) {
    std::vector<absl::string_view> words;
    PythonSplit(std::string("a") + c + "b", &words);
    EXPECT_EQ(words.size() == 2, IsPythonSpace(c)) << static_cast<int>(c);
    EXPECT_EQ(PythonRstrip(std::string("a") + c).size() == 1, IsPythonSpace(c));
  }
}

TEST(BleuPythonTextTest, RstripAndSplit) {
  EXPECT_EQ(PythonRstrip("abc \t\r\u00a0\u3000"), "abc");
  EXPECT_EQ(PythonRstrip("abc\u200b"), "abc\u200b");
  std::vector<absl::string_view> words;
  PythonSplit(
      "\x1c a\x1f"
      "b\u2028c ",
      &words);
  EXPECT_EQ(words, (std::vector<absl::string_view>{"a", "b", "c"}));
  size_t bad = 0;
  EXPECT_TRUE(IsValidUtf8("Zahăr \uFFFD", &bad));
  EXPECT_FALSE(IsValidUtf8("ab\xC3(", &bad));
  EXPECT_EQ(bad, 2u);
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80", &bad));  // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF", &bad));      // an overlong '/'
}

}  // namespace
}  // namespace fathom::eval
