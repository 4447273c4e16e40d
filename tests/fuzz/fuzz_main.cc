// The driver of a fuzz target when it is not linked with libFuzzer (GCC builds: the release and
// ASan trees, where ctest runs it). It replays every file given (directories are walked), then
// mutates the corpus for -runs=N inputs (or for -seconds=N) from -seed=S, the same way every time
// for the same seed and corpus, so a failure replays with the seed it prints. An input that crashes
// is written to ./crash-<target>-<seed>-<run> before the sanitizer ends the process.
//
//   fuzz_request [-runs=N] [-seconds=N] [-seed=S] [-max_len=N] PATH...
//
// The mutations are libFuzzer's simplest ones (bit flips, byte values, inserts, erases, copies of
// a range, splices of two inputs, "interesting" integers); coverage guidance is libFuzzer's job
// (make fuzz), this driver keeps every target exercised under the sanitizers in CI.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define GREGOR_FUZZ_SANITIZED 1
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

std::vector<uint8_t> g_current;
std::string g_crash_name;

void dump_current() {
  if (g_crash_name.empty()) return;
  if (FILE* f = std::fopen(g_crash_name.c_str(), "wb")) {
    std::fwrite(g_current.data(), 1, g_current.size(), f);
    std::fclose(f);
    std::fprintf(stderr, "fuzz: the failing input is in %s (%zu bytes)\n", g_crash_name.c_str(), g_current.size());
  }
}

void run_one(const std::vector<uint8_t>& input, const std::string& crash_name) {
  g_current = input;
  g_crash_name = crash_name;
  // A copy of exactly `size` bytes, so reads past the end are heap overflows the sanitizer sees.
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() ? input.size() : 1]);
  if (!input.empty()) std::memcpy(copy.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
}

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void mutate(std::vector<uint8_t>& d, const std::vector<std::vector<uint8_t>>& corpus, std::mt19937_64& rng,
            size_t max_len) {
  auto below = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  static constexpr uint64_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff,
                                             0x80000000, 0xffffffff, 0x7fffffffffffffffull, ~0ull};
  const int steps = 1 + int(below(8));
  for (int s = 0; s < steps; ++s) {
    switch (below(8)) {
      case 0:
        if (!d.empty()) d[below(d.size())] ^= uint8_t(1u << below(8));
        break;
      case 1:
        if (!d.empty()) d[below(d.size())] = uint8_t(rng());
        break;
      case 2:
        if (d.size() < max_len) d.insert(d.begin() + long(below(d.size() + 1)), uint8_t(rng()));
        break;
      case 3:
        if (!d.empty()) {
          size_t at = below(d.size());
          size_t n = 1 + below(std::min<size_t>(d.size() - at, 64));
          d.erase(d.begin() + long(at), d.begin() + long(at + n));
        }
        break;
      case 4:
        if (!d.empty() && d.size() < max_len) {  // copy a range elsewhere
          size_t from = below(d.size());
          size_t n = 1 + below(std::min<size_t>(d.size() - from, 128));
          std::vector<uint8_t> part(d.begin() + long(from), d.begin() + long(from + n));
          d.insert(d.begin() + long(below(d.size() + 1)), part.begin(), part.end());
        }
        break;
      case 5:
        if (!corpus.empty()) {  // splice: a prefix of this one, a suffix of another
          const auto& other = corpus[below(corpus.size())];
          size_t cut = below(d.size() + 1);
          size_t from = below(other.size() + 1);
          d.resize(cut);
          d.insert(d.end(), other.begin() + long(from), other.end());
        }
        break;
      case 6: {  // an interesting integer, big-endian, 1/2/4/8 bytes wide
        const size_t width = size_t(1) << below(4);
        if (d.size() >= width) {
          uint64_t v = interesting[below(std::size(interesting))];
          size_t at = below(d.size() - width + 1);
          for (size_t i = 0; i < width; ++i) d[at + i] = uint8_t(v >> (8 * (width - 1 - i)));
        }
        break;
      }
      default:
        if (d.size() > 1) d.resize(below(d.size()));  // truncate
        break;
    }
  }
  if (d.size() > max_len) d.resize(max_len);
}

void on_fatal_signal(int sig) {
  dump_current();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t runs = 0, seed = 1, max_len = 1 << 20;
  double seconds = 0;
  std::vector<std::filesystem::path> paths;
  std::string target = std::filesystem::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view key) { return std::string(a.substr(key.size())); };
    if (a.starts_with("-runs=")) runs = std::stoull(value("-runs="));
    else if (a.starts_with("-seconds=")) seconds = std::stod(value("-seconds="));
    else if (a.starts_with("-seed=")) seed = std::stoull(value("-seed="));
    else if (a.starts_with("-max_len=")) max_len = std::stoull(value("-max_len="));
    else if (a.starts_with("-")) {
      std::fprintf(stderr, "usage: %s [-runs=N] [-seconds=N] [-seed=S] [-max_len=N] PATH...\n", argv[0]);
      return 2;
    } else paths.emplace_back(a);
  }
#ifdef GREGOR_FUZZ_SANITIZED
  __sanitizer_set_death_callback(dump_current);
#endif
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGFPE}) std::signal(sig, on_fatal_signal);

  std::vector<std::filesystem::path> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::exists(p, ec)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "fuzz: %s does not exist\n", p.c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());  // the same order every time: the seed replays
  std::vector<std::vector<uint8_t>> corpus;
  for (const auto& f : files) {
    corpus.push_back(read_file(f));
    run_one(corpus.back(), "crash-" + target + "-" + f.filename().string());
  }
  std::fprintf(stderr, "fuzz: %s replayed %zu inputs\n", target.c_str(), corpus.size());
  if (runs == 0 && seconds <= 0) return 0;

  std::mt19937_64 rng(seed);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t done = 0;
  std::vector<uint8_t> input;
  while ((runs == 0 || done < runs) && (seconds <= 0 || std::chrono::steady_clock::now() < deadline)) {
    input = corpus.empty() ? std::vector<uint8_t>() : corpus[rng() % corpus.size()];
    mutate(input, corpus, rng, max_len);
    run_one(input, "crash-" + target + "-" + std::to_string(seed) + "-" + std::to_string(done));
    ++done;
  }
  std::fprintf(stderr, "fuzz: %s ran %llu mutated inputs from seed %llu without a failure\n", target.c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(seed));
  return 0;
}
