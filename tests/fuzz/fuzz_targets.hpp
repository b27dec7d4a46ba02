// The bodies of the readers' fuzz targets: each takes arbitrary bytes, hands them to one
// reader and checks what it answers. A flashmoe::Error is the right answer to bad input; any
// other exception, a crash, a sanitizer report or a failed property (std::abort) is a finding.
// libFuzzer runs them (fuzz_main.cpp, scripts/fuzz.sh); the normal suite replays the seed
// corpus and every finding through them (test_fuzz_corpus.cpp), so a crash found is a test.
#pragma once

#include <string_view>

namespace flashmoe::fuzz {

// parse_config_text (either format, found by its keys); a configuration it accepts must come
// back unchanged through config_to_json and config_from_json.
void config_reader(std::string_view bytes);
// The FlashDMoE format's mapping, every input sent to it whatever its keys, then validate().
void flashdmoe_reader(std::string_view bytes);
// meta.json of a saved run (io::parse_meta).
void meta_reader(std::string_view bytes);
// decode_npy on the bytes and read_npy on a file holding them: the two must agree, refusing
// together or giving the same tensor bit for bit.
void npy_reader(std::string_view bytes);

}  // namespace flashmoe::fuzz
