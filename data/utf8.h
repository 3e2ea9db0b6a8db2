// UTF-8 validation: SentencePiece silently mangles invalid bytes, so bad input is caught first.
#ifndef FATHOM_DATA_UTF8_H_
#define FATHOM_DATA_UTF8_H_

#include <cstddef>

namespace fathom::data {

// Returns the byte offset of the first invalid UTF-8 sequence in [data, data + size), or -1 if
// the text is valid. Rejects overlong forms, surrogates and code points above U+10FFFF.
long FindInvalidUtf8(const char* data, size_t size);

}  // namespace fathom::data

#endif  // FATHOM_DATA_UTF8_H_
