// process_* metrics from /proc/self, as the Prometheus client libraries of other languages
// export them; prometheus-cpp 1.0.1 has no such collector.
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "kube_csr_approver/observability/metrics.h"

namespace kca {
namespace {

struct ProcStat {
  double cpu_seconds;
  double start_ticks_since_boot;
  double virtual_bytes;
  double resident_bytes;
};

std::optional<ProcStat> ReadProcStat() {
  std::ifstream file("/proc/self/stat");
  std::string line;
  if (!std::getline(file, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> values{std::istream_iterator<std::string>(fields),
                                  std::istream_iterator<std::string>()};
  // values[0] is field 3 (state); field N is values[N - 3].
  if (values.size() < 22) return std::nullopt;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  try {
    return ProcStat{(std::stod(values[11]) + std::stod(values[12])) / ticks,
                    std::stod(values[19]) / ticks, std::stod(values[20]),
                    std::stod(values[21]) * page};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> ReadBootTimeSeconds() {
  std::ifstream file("/proc/stat");
  std::string key;
  double value = 0;
  while (file >> key) {
    if (key == "btime" && file >> value) return value;
    file.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> CountOpenFds() {
  std::error_code error;
  std::filesystem::directory_iterator it("/proc/self/fd", error);
  if (error) return std::nullopt;
  double count = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return std::nullopt;
    ++count;
  }
  return count;
}

prometheus::MetricFamily Single(const char* name, const char* help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {metric}};
}

class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> families;
    if (const auto stat = ReadProcStat()) {
      families.push_back(Single("process_cpu_seconds_total",
                                "Total user and system CPU time spent in seconds.",
                                MetricType::Counter, stat->cpu_seconds));
      families.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                                MetricType::Gauge, stat->resident_bytes));
      families.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                                MetricType::Gauge, stat->virtual_bytes));
      if (const auto boot = ReadBootTimeSeconds()) {
        families.push_back(Single("process_start_time_seconds",
                                  "Start time of the process since unix epoch in seconds.",
                                  MetricType::Gauge, *boot + stat->start_ticks_since_boot));
      }
    }
    if (const auto fds = CountOpenFds()) {
      families.push_back(
          Single("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, *fds));
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      families.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                                MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
    }
    return families;
  }
};

}  // namespace

std::shared_ptr<prometheus::Collectable> MakeProcessCollector() {
  return std::make_shared<ProcessCollector>();
}

}  // namespace kca
