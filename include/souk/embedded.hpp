#pragma once
// Files compiled into the binary by cmake/embed.cmake (migrations, configuration, web assets).
#include <span>
#include <string_view>

namespace souk::embedded {

struct file {
    std::string_view path;
    std::string_view bytes;
};

std::span<const file> migrations();
std::span<const file> config_files();
std::span<const file> web_assets();
std::span<const file> api_docs();

}  // namespace souk::embedded
