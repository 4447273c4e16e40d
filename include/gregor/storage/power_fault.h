#pragma once
// power_fault: a test-only model of what a power cut does to files that were written but not yet
// made durable. SIGKILL leaves the page cache intact, so a missing fsync is invisible to a crash
// test; a power cut is not. Off by default: every hook below is one relaxed atomic load and a
// branch until a test calls install().
//
// While installed, the storage file layer (file.cc) reports to it, before or after each call:
//   - writes and truncations of a file (by inode): the first change to a byte range since the
//     file's last fsync saves the durable bytes it replaces, so the cut can put them back;
//   - fdatasync/fsync of a file: its changes become durable (old bytes forgotten);
//   - creations (files, directories), renames and removals: pending in their directory until that
//     directory is fsynced (sync_dir), which makes every pending entry change in it durable.
// power_cut() then turns the files on disk into one state a real device could have been left in,
// and the model starts again with everything on disk counted as durable.
//
// Assumptions (a model, not a file system): files and directories that existed before install()
// are durable; what another process does is not seen; a rename is durable once both directories
// are synced; the directory fsyncs of different directories are independent (POSIX; ext4's journal
// is kinder). Cuts: drop_all (everything not durable is lost), keep_all (nothing is), random_tear
// (per file the size is the durable one, the current one or, for a grown file, a 512-byte sector
// boundary between; each changed extent is kept, lost, torn after a prefix of sectors, or mixed
// sector by sector; a random prefix of the pending entry changes survives, in order).
//
// Threading: the hooks take one mutex (a cleaner thread may write while the owner appends);
// install(), uninstall() and power_cut() are called by the test with the writers stopped. Each
// modelled operation in file.cc runs whole inside an operation_scope, from its gate() to its last
// note, so an armed cut that another thread's gate() sets off never lands inside it: it happens
// wholly before the cut or not at all. (Without that, a directory fsync whose gate had passed could
// report success after the cut had undone the very renames it made durable.)
#include <atomic>
#include <mutex>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace gregor::storage::power_fault {

enum class cut_mode { drop_all, keep_all, random_tear };

// What a cut changed, for the test's log line and assertions.
struct cut_report {
  size_t files_changed = 0;       // files whose contents or size were put back (wholly or partly)
  uint64_t bytes_reverted = 0;    // bytes put back to their durable value (or cut off)
  size_t extents_torn = 0;        // changed extents left partly new, partly old
  size_t entries_undone = 0;      // creations, renames, removals undone
  size_t entries_kept = 0;        // pending entry changes that survived the cut
  size_t files_lost_track = 0;    // changed files the model could no longer find (should be 0)
  std::string summary() const;
};

namespace detail {
extern std::atomic<bool> installed;
}  // namespace detail

inline bool active() { return detail::installed.load(std::memory_order_relaxed); }

// Starts recording (everything on disk now counts as durable). Idempotent.
void install();
// Stops recording and forgets every pending change (the files stay as they are).
void uninstall();
// Applies a simulated power cut to every pending change, deterministically from `seed`, then
// keeps recording from the new state. Requires active(). The writers must have been abandoned
// (objects destroyed without a clean close) or be idle.
cut_report power_cut(uint64_t seed, cut_mode mode);
// A cut in the middle of the code under test: after `ops` more mutating operations (writes,
// truncations, fsyncs, creations, renames, removals, mkdirs) the next one finds the power gone: the
// cut is applied to the disk right then and that operation and every later one fail with io_error
// ("power cut") until restore_power(). ops_seen() counts them, to enumerate every cut point.
void arm_cut_after(uint64_t ops, uint64_t seed, cut_mode mode);
// The same, now: the cut is applied and the power stays off (so that a destructor's clean close
// cannot write) until restore_power().
void power_off(uint64_t seed, cut_mode mode);
bool powered_off();
// Ends an armed cut: returns what it did (an empty report when it never came) and resumes
// recording from the state on disk (counted durable), with the power back on and nothing armed.
cut_report restore_power();
uint64_t ops_seen();
// Drops every pending change under `dir`, which its owner is about to remove for good (a test's
// scratch directory). Without it a later cut would undo those changes and bring the removed
// directory back.
void forget(const std::filesystem::path& dir);

// Number of files with changes not yet durable, and of pending entry changes (for tests).
size_t pending_files();
size_t pending_entries();

// Hooks, called by the storage file layer only when active(). gate() comes before every mutating
// operation: false means the power is off and the operation must fail without touching the disk.
// The note_* hooks follow a passed gate; `fd` must be readable.
bool gate();
void note_created(int fd, const std::filesystem::path& path);  // after a creating open()
void note_write(int fd, const std::filesystem::path& path, uint64_t pos, size_t len);  // before
void note_truncate(int fd, const std::filesystem::path& path, uint64_t size);          // before
void note_synced(int fd);                                                               // after
void note_rename(const std::filesystem::path& from, const std::filesystem::path& to);  // before
void note_remove(const std::filesystem::path& path);                                    // before
void note_mkdir(const std::filesystem::path& dir);                                      // after
void note_dir_synced(const std::filesystem::path& dir);                                 // after

// Serialises the modelled operations (see Threading): a no-op unless active(). Recursive, as
// write_file_atomic and create_dirs run sync_dir inside their own scope.
std::recursive_mutex& operation_mutex();
class operation_scope {
 public:
  operation_scope() {
    if (active()) _lock = std::unique_lock(operation_mutex());
  }

 private:
  std::unique_lock<std::recursive_mutex> _lock;
};

}  // namespace gregor::storage::power_fault
