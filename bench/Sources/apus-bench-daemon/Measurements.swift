import ApusAPI
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Percentiles of a set of durations in microseconds.
struct Latencies {
    var samples: [Double] = []

    mutating func time<T>(_ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
        return result
    }

    func percentile(_ fraction: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    var summary: String {
        String(format: "p50 %8.1f µs  p99 %8.1f µs  (%d samples)", percentile(0.5), percentile(0.99), samples.count)
    }
}

/// Memory a process holds: VmRSS from /proc, and the part of it that is guest RAM (the anonymous mappings of exactly
/// a guest's memory size), so the daemon's own overhead can be told apart.
enum ProcessMemory {
    /// procfs files report a size of 0, so read them to the end rather than by their size.
    private static func procFile(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    static func residentKiB(_ pid: Int32) -> Int {
        let status = procFile("/proc/\(pid)/status")
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Resident pages only this process maps (Private_Clean + Private_Dirty of smaps_rollup): what another process
    /// of the same executable costs, since the libraries' shared pages are in memory once for all of them.
    static func privateKiB(_ pid: Int32) -> Int {
        procFile("/proc/\(pid)/smaps_rollup").split(separator: "\n").reduce(0) { total, line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, fields[0] == "Private_Clean:" || fields[0] == "Private_Dirty:" else { return total }
            return total + (Int(fields[1]) ?? 0)
        }
    }

    static func residentKiB(_ pid: Int32, inMappingsOfSize sizeKiB: Int) -> Int {
        let smaps = procFile("/proc/\(pid)/smaps")
        var total = 0
        var inGuestMapping = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.first?.contains("-") == true, fields.first?.contains(":") == false {
                let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                inGuestMapping = bounds.count == 2 && Int((bounds[1] - bounds[0]) / 1024) == sizeKiB
            } else if inGuestMapping, fields.first == "Rss:", fields.count >= 2 {
                total += Int(fields[1]) ?? 0
            }
        }
        return total
    }
}

/// A connected AF_UNIX stream socket to `path`, or -1.
func connectUnix(_ path: String) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    if connected != 0 {
        close(fd)
        return -1
    }
    return fd
}

/// One request on a fresh connection, the way both the floor and the wire GET are timed: connect, send the request
/// bytes, read the reply until the server closes, close. Returns the reply's bytes.
func roundTrip(_ path: String, request: [UInt8], into reply: inout [UInt8]) {
    reply.removeAll(keepingCapacity: true)
    let fd = connectUnix(path)
    guard fd >= 0 else { return }
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 4096, 0) }
        guard count > 0 else { break }
        reply.append(contentsOf: buffer[0..<count])
    }
    close(fd)
}

/// The floor under any API call: a trivial server thread in this process that accepts, reads one request, sends a
/// fixed reply and closes, timed with `roundTrip` and the request bytes of a GET /v1/vms/{id}.
final class SocketFloor {
    let path: String
    private let server: Int32
    private let request = Array("GET /v1/vms/x HTTP/1.1\r\nHost: apusd\r\nConnection: close\r\n\r\n".utf8)
    private var reply: [UInt8] = []

    init(directory: String, rounds: Int) throws {
        path = directory + "/floor.sock"
        unlink(path)
        server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(server, 64) == 0 else { throw BenchError("cannot listen on \(path)") }
        let listening = server
        let fixedReply = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".utf8)
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<rounds {
                let client = accept(listening, nil, nil)
                guard client >= 0 else { return }
                _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, 4096, 0) }
                _ = fixedReply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(client)
            }
        }.start()
    }

    /// One timed round trip; the reply is checked, outside the timing, to be the server's.
    func measure(into latencies: inout Latencies) throws {
        latencies.time { roundTrip(path, request: request, into: &reply) }
        guard reply.starts(with: Array("HTTP/1.1 200 OK".utf8)) else { throw BenchError("the floor server did not answer") }
    }

    deinit {
        close(server)
        unlink(path)
    }
}

/// GET /v1/vms/{id} timed exactly as the floor is (`roundTrip`: fresh connection, `Connection: close`, reply read to
/// EOF), against apusd's real path. Parsing the reply and decoding the VM happen after the clock stops, and a reply
/// that is not a 200 with that VM's JSON ends the benchmark, so the figure cannot come from an error answer.
final class WireGet {
    private let socketPath: String
    private let id: String
    private let request: [UInt8]
    private var reply: [UInt8] = []
    private let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    init(socketPath: String, id: String) {
        self.socketPath = socketPath
        self.id = id
        request = Array("GET /v1/vms/\(id) HTTP/1.1\r\nHost: apusd\r\nConnection: close\r\n\r\n".utf8)
    }

    func measure(into latencies: inout Latencies) throws {
        latencies.time { roundTrip(socketPath, request: request, into: &reply) }
        try check()
    }

    private func check() throws {
        let separator = Array("\r\n\r\n".utf8)
        guard reply.starts(with: Array("HTTP/1.1 200 ".utf8)),
              let end = reply.indices.first(where: { reply[$0...].starts(with: separator) }) else {
            throw BenchError("GET /v1/vms/\(id) did not answer 200: \(String(decoding: reply.prefix(200), as: UTF8.self))")
        }
        let body = Data(reply[(end + separator.count)...])
        let info = try decoder.decode(VMInfo.self, from: body)
        guard info.id == id || info.definition.name == id else { throw BenchError("GET /v1/vms/\(id) answered another VM") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
