#pragma once
// What the WAL's writers ask of a file without asking for its times. A stat() reports the
// change time, and since Linux 6.13 (multigrain timestamps: ext4, xfs, btrfs, tmpfs) a change
// time that someone has read makes the next write stamp the inode with a fine-grained time:
// every commit then dirties the inode, and every fdatasync writes it — on ext4 without a journal
// a synchronous write of the inode block, one more round trip to the disk per fsync. Unread, the
// time moves once per tick (4 ms at HZ=250), and most fsyncs write the data and flush only.
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdint>
#include <optional>

namespace souk::db {

inline std::optional<std::uint64_t> inode_of(const char* path) {
    struct statx st {};
    if (::statx(AT_FDCWD, path, 0, STATX_INO, &st) != 0 || !(st.stx_mask & STATX_INO))
        return std::nullopt;
    return st.stx_ino;
}

inline std::optional<std::uint64_t> size_of(const char* path) {
    struct statx st {};
    if (::statx(AT_FDCWD, path, 0, STATX_SIZE, &st) != 0 || !(st.stx_mask & STATX_SIZE))
        return std::nullopt;
    return st.stx_size;
}

}  // namespace souk::db
