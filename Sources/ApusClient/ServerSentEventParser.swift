/// Splits a text/event-stream into events and returns each event's `data` (multi-line data joined with newlines);
/// comments and fields other than data are skipped.
struct ServerSentEventParser {
    private var pending: [UInt8] = []
    private var data: [String] = []

    mutating func feed(_ bytes: [UInt8]) -> [String] {
        pending += bytes
        var events: [String] = []
        while let newline = pending.firstIndex(of: 10) {
            var line = String(decoding: pending[..<newline], as: UTF8.self)
            pending.removeFirst(newline + 1)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.isEmpty {
                if !data.isEmpty { events.append(data.joined(separator: "\n")) }
                data.removeAll()
            } else if line.hasPrefix("data:") {
                var value = line.dropFirst(5)
                if value.hasPrefix(" ") { value = value.dropFirst() }
                data.append(String(value))
            }
        }
        return events
    }
}
