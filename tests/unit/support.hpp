#pragma once
// Helpers shared by the unit tests: a scratch directory and bounded polling.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <souk/core/random.hpp>
#include <string>
#include <thread>

namespace souk::test {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
  public:
    temp_dir() : path_(std::filesystem::temp_directory_path() / ("souk-unit-" + random_hex(8))) {
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

  private:
    std::filesystem::path path_;
};

// Runs the io_context in short slices until `done` holds or the time limit passes; returns
// whether `done` held. The limit only bounds a failing test: a passing one returns as soon as
// the condition is met.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(5));
    }
    return true;
}

// Spins (yielding) until `done` holds or the time limit passes, for state changed by other
// threads (the writer thread). Returns whether `done` held.
inline bool wait_until(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

}  // namespace souk::test
