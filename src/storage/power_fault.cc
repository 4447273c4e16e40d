#include "gregor/storage/power_fault.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "gregor/base/assert.h"

namespace gregor::storage::power_fault {

namespace fs = std::filesystem;

namespace detail {
std::atomic<bool> installed{false};
}  // namespace detail

std::string cut_report::summary() const {
  return fmt::format("{} file(s) changed, {} byte(s) reverted, {} extent(s) torn, "
                     "{} entry change(s) undone, {} kept, {} lost track",
                     files_changed, bytes_reverted, extents_torn, entries_undone, entries_kept,
                     files_lost_track);
}

namespace {

constexpr uint64_t sector_bytes = 512;

struct inode_key {
  dev_t dev = 0;
  ino_t ino = 0;
  auto operator<=>(const inode_key&) const = default;
};

// One file with changes since its last fsync. Invariant: `saved` holds the durable bytes of
// exactly the part of `dirty` below durable_size (the first change to a range saves them).
struct inode_state {
  fs::path path;
  uint64_t durable_size = 0;
  std::map<uint64_t, uint64_t> dirty;                 // start -> end, disjoint, merged
  std::map<uint64_t, std::vector<uint8_t>> saved;     // start -> durable bytes
};

enum class entry_kind { create, rename, remove };

// A directory entry change not yet durable: it waits for the fsync of every directory in `dirs`.
struct entry {
  entry_kind kind = entry_kind::create;
  fs::path path;  // create/remove: the name; rename: the new name
  fs::path from;  // rename: the old name
  std::optional<std::vector<uint8_t>> replaced;  // a file the change unlinked: its durable bytes
  std::set<fs::path> dirs;
};

struct model {
  std::mutex mu;
  uint64_t ops = 0;            // gates passed since install
  int64_t ops_until_cut = -1;  // -1: nothing armed
  uint64_t armed_seed = 0;
  cut_mode armed_mode = cut_mode::drop_all;
  bool off = false;
  cut_report armed_report;
  std::map<inode_key, inode_state> inodes;
  std::vector<entry> entries;
};

model& the_model() {
  static model* m = new model();  // never destroyed: hooks may run from detached threads at exit
  return *m;
}

fs::path norm(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec).lexically_normal();
  if (ec) a = p.lexically_normal();
  if (!a.has_filename() && a.has_parent_path() && a != a.root_path()) a = a.parent_path();
  return a;
}

std::optional<inode_key> key_of_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return inode_key{st.st_dev, st.st_ino};
}

std::optional<std::pair<inode_key, struct stat>> stat_path(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return std::nullopt;
  return std::pair{inode_key{st.st_dev, st.st_ino}, st};
}

uint64_t size_of_fd(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0;
}

std::vector<uint8_t> read_range(int fd, uint64_t pos, uint64_t len) {
  std::vector<uint8_t> out(len, 0);
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, out.data() + done, len - done, off_t(pos + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // past the end: zeros
    done += uint64_t(n);
  }
  return out;
}

void write_all(int fd, uint64_t pos, const uint8_t* data, uint64_t len) {
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd, data + done, len - done, off_t(pos + done));
    if (n < 0 && errno == EINTR) continue;
    GREGOR_ASSERT(n > 0);
    done += uint64_t(n);
  }
}

// Adds [a, b) to a set of disjoint ranges; returns the parts of it that were not in the set yet.
std::vector<std::pair<uint64_t, uint64_t>> add_range(std::map<uint64_t, uint64_t>& set, uint64_t a,
                                                     uint64_t b) {
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  if (a >= b) return gaps;
  uint64_t lo = a, hi = b;
  auto it = set.upper_bound(a);
  if (it != set.begin() && std::prev(it)->second >= a) --it;
  uint64_t at = a;
  while (it != set.end() && it->first <= b) {
    if (it->first > at) gaps.emplace_back(at, it->first);
    at = std::max(at, it->second);
    lo = std::min(lo, it->first);
    hi = std::max(hi, it->second);
    it = set.erase(it);
  }
  if (at < b) gaps.emplace_back(at, b);
  set.emplace(lo, hi);
  return gaps;
}

inode_state& state_for(model& m, int fd, const fs::path& path) {
  auto key = key_of_fd(fd);
  GREGOR_ASSERT(key.has_value());
  auto [it, fresh] = m.inodes.try_emplace(*key);
  if (fresh) it->second.durable_size = size_of_fd(fd);  // untouched since install: durable
  it->second.path = norm(path);
  return it->second;
}

// Marks [a, b) changed, saving first the durable bytes of the part not changed before.
void change(inode_state& st, int fd, uint64_t a, uint64_t b) {
  for (auto [ga, gb] : add_range(st.dirty, a, b)) {
    gb = std::min(gb, st.durable_size);
    if (ga < gb) st.saved.emplace(ga, read_range(fd, ga, gb - ga));
  }
}

// The byte at p as it was durable (p below durable_size and changed, so saved).
uint8_t durable_byte(const inode_state& st, uint64_t p) {
  auto it = st.saved.upper_bound(p);
  GREGOR_ASSERT(it != st.saved.begin());
  --it;
  GREGOR_ASSERT(p - it->first < it->second.size());
  return it->second[p - it->first];
}

// The durable contents of a file that is about to be unlinked (it may come back in a cut).
std::vector<uint8_t> durable_contents(model& m, const fs::path& p, const inode_key& key) {
  std::vector<uint8_t> out;
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  auto it = m.inodes.find(key);
  if (it == m.inodes.end()) {
    out = read_range(fd, 0, size_of_fd(fd));
  } else {
    const inode_state& st = it->second;
    out = read_range(fd, 0, st.durable_size);
    for (const auto& [a, b] : st.dirty) {
      for (uint64_t q = a; q < std::min(b, st.durable_size); ++q) out[q] = durable_byte(st, q);
    }
  }
  ::close(fd);
  return out;
}

bool under(const fs::path& p, const fs::path& dir) {
  auto [d, pi] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  return d == dir.end();
}

// Puts one file into a state a device could have been left in (counted as lost track when the
// file is no longer where the model last saw it).
void cut_contents(inode_state& st, const inode_key& key, cut_mode mode, std::mt19937_64& rng,
                  cut_report& r) {
  auto found = stat_path(st.path);
  if (!found || found->first != key) {
    ++r.files_lost_track;
    return;
  }
  int fd = ::open(st.path.c_str(), O_RDWR | O_CLOEXEC);
  GREGOR_ASSERT(fd >= 0);
  const uint64_t cur_size = size_of_fd(fd);
  uint64_t final_size = cur_size;
  if (mode == cut_mode::drop_all) {
    final_size = st.durable_size;
  } else if (mode == cut_mode::random_tear && cur_size != st.durable_size) {
    switch (rng() % 3) {
      case 0: final_size = st.durable_size; break;
      case 1: final_size = cur_size; break;
      default:
        if (cur_size > st.durable_size) {
          final_size = st.durable_size + rng() % (cur_size - st.durable_size + 1);
          final_size = (final_size + sector_bytes - 1) / sector_bytes * sector_bytes;
          final_size = std::min(cur_size, final_size);
        }
    }
  }
  bool changed = final_size != cur_size;
  if (final_size < cur_size) r.bytes_reverted += cur_size - final_size;
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> writes;
  for (const auto& [a, b_full] : st.dirty) {
    const uint64_t b = std::min(b_full, final_size);
    if (a >= b) continue;
    // Which sectors keep their new bytes: all, none, a prefix, or a coin per sector.
    int how = mode == cut_mode::drop_all ? 1 : mode == cut_mode::keep_all ? 0 : int(rng() % 4);
    const uint64_t first_sector = a / sector_bytes, last_sector = (b - 1) / sector_bytes;
    const uint64_t prefix = how == 2 ? first_sector + rng() % (last_sector - first_sector + 2) : 0;
    std::vector<uint8_t> bytes = read_range(fd, a, b - a);  // new: zeros past the current end
    bool any_old = false, any_new = false;
    bool coin = false;
    uint64_t coin_sector = UINT64_MAX;
    for (uint64_t p = a; p < b; ++p) {
      const uint64_t s = p / sector_bytes;
      bool keep_new;
      switch (how) {
        case 0: keep_new = true; break;
        case 1: keep_new = false; break;
        case 2: keep_new = s < prefix; break;
        default:
          if (s != coin_sector) coin_sector = s, coin = rng() % 2 == 0;
          keep_new = coin;
      }
      if (keep_new) {
        any_new = true;
        continue;
      }
      any_old = true;
      const uint8_t old = p < st.durable_size ? durable_byte(st, p) : 0;
      if (bytes[p - a] != old) ++r.bytes_reverted, changed = true;
      bytes[p - a] = old;
    }
    if (any_old && any_new) ++r.extents_torn;
    if (any_old) writes.emplace_back(a, std::move(bytes));
  }
  GREGOR_ASSERT(::ftruncate(fd, off_t(final_size)) == 0);
  for (const auto& [a, bytes] : writes) write_all(fd, a, bytes.data(), bytes.size());
  ::close(fd);
  if (changed) ++r.files_changed;
}

void recreate(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    // The simulation cannot go on (a full scratch file system, say): say which file and why.
    std::fprintf(stderr, "power_fault: cannot recreate %s: %s\n", p.c_str(), std::strerror(errno));
  }
  GREGOR_ASSERT(fd >= 0);
  write_all(fd, 0, bytes.data(), bytes.size());
  ::close(fd);
}

void undo(const entry& e) {
  std::error_code ec;
  switch (e.kind) {
    case entry_kind::create:
      fs::remove_all(e.path, ec);
      break;
    case entry_kind::rename:
      if (fs::exists(e.path, ec)) {
        fs::remove_all(e.from, ec);
        fs::rename(e.path, e.from, ec);
        GREGOR_ASSERT(!ec);
      }
      if (e.replaced) recreate(e.path, *e.replaced);
      break;
    case entry_kind::remove:
      if (e.replaced) recreate(e.path, *e.replaced);
      break;
  }
}

}  // namespace

void install() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  m.ops = 0;
  m.ops_until_cut = -1;
  m.off = false;
  m.inodes.clear();
  m.entries.clear();
  detail::installed = true;
}

void uninstall() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  detail::installed = false;
  m.off = false;
  m.ops_until_cut = -1;
  m.inodes.clear();
  m.entries.clear();
}

size_t pending_files() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  return size_t(std::count_if(m.inodes.begin(), m.inodes.end(),
                              [](const auto& kv) { return !kv.second.dirty.empty(); }));
}

size_t pending_entries() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  return m.entries.size();
}

namespace {
cut_report cut_locked(model& m, uint64_t seed, cut_mode mode) {
  std::mt19937_64 rng(seed);
  cut_report r;
  // Files in path order, so that a seed replays the same decisions in another scratch directory.
  std::vector<std::pair<inode_key, inode_state*>> files;
  for (auto& [k, st] : m.inodes) {
    if (!st.dirty.empty()) files.emplace_back(k, &st);
  }
  std::sort(files.begin(), files.end(),
            [](const auto& x, const auto& y) { return x.second->path < y.second->path; });
  for (auto& [k, st] : files) cut_contents(*st, k, mode, rng, r);
  // Entry changes: a prefix survives (a journal commits them in order); the rest are undone
  // newest first, which walks the names back to the state after that prefix.
  const size_t n = m.entries.size();
  size_t keep = size_t(rng() % (n + 1));
  if (mode == cut_mode::keep_all) keep = n;
  if (mode == cut_mode::drop_all) keep = 0;
  for (size_t i = n; i > keep; --i) undo(m.entries[i - 1]);
  r.entries_undone = n - keep;
  r.entries_kept = keep;
  m.inodes.clear();
  m.entries.clear();
  return r;
}
}  // namespace

cut_report power_cut(uint64_t seed, cut_mode mode) {
  GREGOR_ASSERT(active());
  model& m = the_model();
  std::lock_guard g(m.mu);
  GREGOR_ASSERT(!m.off);
  return cut_locked(m, seed, mode);
}

void arm_cut_after(uint64_t ops, uint64_t seed, cut_mode mode) {
  GREGOR_ASSERT(active());
  model& m = the_model();
  std::lock_guard g(m.mu);
  m.ops_until_cut = int64_t(ops);
  m.armed_seed = seed;
  m.armed_mode = mode;
  m.armed_report = {};
}

void power_off(uint64_t seed, cut_mode mode) {
  GREGOR_ASSERT(active());
  model& m = the_model();
  std::lock_guard g(m.mu);
  GREGOR_ASSERT(!m.off);
  m.armed_report = cut_locked(m, seed, mode);
  m.off = true;
}

bool powered_off() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  return m.off;
}

cut_report restore_power() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  cut_report r = m.armed_report;
  m.off = false;
  m.ops_until_cut = -1;
  m.armed_report = {};
  m.inodes.clear();
  m.entries.clear();
  return r;
}

uint64_t ops_seen() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  return m.ops;
}

std::recursive_mutex& operation_mutex() {
  static auto* mu = new std::recursive_mutex();  // never destroyed, like the model
  return *mu;
}

void forget(const fs::path& dir) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  const fs::path d = norm(dir);
  std::erase_if(m.inodes, [&](const auto& kv) { return under(kv.second.path, d); });
  std::erase_if(m.entries, [&](const entry& e) { return under(e.path, d) || (!e.from.empty() && under(e.from, d)); });
}

bool gate() {
  model& m = the_model();
  std::lock_guard g(m.mu);
  if (m.off) return false;
  if (m.ops_until_cut == 0) {
    m.armed_report = cut_locked(m, m.armed_seed, m.armed_mode);
    m.off = true;
    return false;
  }
  if (m.ops_until_cut > 0) --m.ops_until_cut;
  ++m.ops;
  return true;
}

void note_created(int fd, const fs::path& path) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  auto key = key_of_fd(fd);
  if (!key) return;
  inode_state st;
  st.path = norm(path);
  m.inodes[*key] = std::move(st);  // a reused inode number starts afresh
  entry e{entry_kind::create, norm(path), {}, std::nullopt, {norm(path).parent_path()}};
  m.entries.push_back(std::move(e));
}

void note_write(int fd, const fs::path& path, uint64_t pos, size_t len) {
  if (len == 0) return;
  model& m = the_model();
  std::lock_guard g(m.mu);
  change(state_for(m, fd, path), fd, pos, pos + len);
}

void note_truncate(int fd, const fs::path& path, uint64_t size) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  auto& st = state_for(m, fd, path);
  const uint64_t cur = size_of_fd(fd);
  if (size != cur) change(st, fd, std::min(size, cur), std::max(size, cur));
}

void note_synced(int fd) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  auto key = key_of_fd(fd);
  if (!key) return;
  auto it = m.inodes.find(*key);
  if (it == m.inodes.end()) return;
  it->second.durable_size = size_of_fd(fd);
  it->second.dirty.clear();
  it->second.saved.clear();
}

void note_rename(const fs::path& from_raw, const fs::path& to_raw) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  const fs::path from = norm(from_raw), to = norm(to_raw);
  auto src = stat_path(from);
  if (!src) return;  // the rename will fail
  entry e{entry_kind::rename, to, from, std::nullopt, {from.parent_path(), to.parent_path()}};
  if (auto dst = stat_path(to); dst && S_ISREG(dst->second.st_mode)) {
    e.replaced = durable_contents(m, to, dst->first);
    m.inodes.erase(dst->first);
  }
  if (S_ISDIR(src->second.st_mode)) {
    for (auto& [k, st] : m.inodes) {
      if (under(st.path, from)) st.path = to / st.path.lexically_relative(from);
    }
  } else if (auto it = m.inodes.find(src->first); it != m.inodes.end()) {
    it->second.path = to;
  }
  m.entries.push_back(std::move(e));
}

void note_remove(const fs::path& raw) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  const fs::path p = norm(raw);
  auto found = stat_path(p);
  if (!found) return;
  if (S_ISDIR(found->second.st_mode)) {
    // Whole trees (a deleted partition, already renamed away durably) are not modelled: their
    // removal counts as durable at once.
    for (auto it = m.inodes.begin(); it != m.inodes.end();) {
      it = under(it->second.path, p) ? m.inodes.erase(it) : std::next(it);
    }
    return;
  }
  entry e{entry_kind::remove, p, {}, durable_contents(m, p, found->first), {p.parent_path()}};
  m.inodes.erase(found->first);
  m.entries.push_back(std::move(e));
}

void note_mkdir(const fs::path& dir) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  const fs::path p = norm(dir);
  m.entries.push_back(entry{entry_kind::create, p, {}, std::nullopt, {p.parent_path()}});
}

void note_dir_synced(const fs::path& dir) {
  model& m = the_model();
  std::lock_guard g(m.mu);
  const fs::path d = norm(dir);
  for (auto& e : m.entries) e.dirs.erase(d);
  std::erase_if(m.entries, [](const entry& e) { return e.dirs.empty(); });
}

}  // namespace gregor::storage::power_fault
