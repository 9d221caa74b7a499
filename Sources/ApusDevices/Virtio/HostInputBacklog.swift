/// Host input a device holds for the guest until the driver posts buffers for it: a first-in first-out queue bounded
/// by `limit` elements (bytes for a console, frames for a network device).
///
/// A host reader asks `room` before it reads, so a guest slow to post buffers slows the host side down instead of
/// losing data; `roomAvailable` runs (under the caller's lock) whenever room reappears after the backlog was full, so
/// the reader knows to go on. What is pending is part of the device's serializable state (`pending`, `restore`).
public struct HostInputBacklog<Element: Sendable> {
    public let limit: Int
    /// Elements before `start` are taken already; they are dropped in bulk, so taking one costs O(1) on average.
    private var storage: [Element] = []
    private var start = 0
    /// Called when the backlog had been full and has room again.
    public var roomAvailable: (@Sendable () -> Void)?

    public init(limit: Int) {
        precondition(limit > 0, "a backlog holds at least one element")
        self.limit = limit
    }

    public var count: Int { storage.count - start }
    public var isEmpty: Bool { count == 0 }
    /// How many more elements the backlog accepts now.
    public var room: Int { limit - count }
    /// What waits for the guest, oldest first.
    public var pending: ArraySlice<Element> { storage[start...] }
    public var first: Element? { isEmpty ? nil : storage[start] }

    /// Takes `element` if there is room; false (the element not taken) when the backlog is full.
    @discardableResult
    public mutating func append(_ element: Element) -> Bool {
        guard room > 0 else { return false }
        storage.append(element)
        return true
    }

    /// Takes as many of `elements` as there is room for, from the front; returns how many.
    @discardableResult
    public mutating func append(contentsOf elements: some Collection<Element>) -> Int {
        let accepted = min(elements.count, room)
        storage.append(contentsOf: elements.prefix(accepted))
        return accepted
    }

    /// Drops the `n` oldest elements (the guest has them now).
    public mutating func removeFirst(_ n: Int = 1) {
        precondition(n >= 0 && n <= count, "removing more than the backlog holds")
        let wasFull = room == 0
        start += n
        if start == storage.count {
            storage.removeAll(keepingCapacity: storage.count <= limit)
            start = 0
        } else if start >= storage.count / 2 {
            storage.removeFirst(start)
            start = 0
        }
        if wasFull && n > 0 { roomAvailable?() }
    }

    /// Drops everything (the driver reset the device).
    public mutating func removeAll() { removeFirst(count) }

    /// Replaces the contents with `saved` (a snapshot's `pending`), refusing more than `limit` elements. It does not
    /// call `roomAvailable`: a restore happens before the host readers start.
    public mutating func restore(_ saved: [Element], device: String) throws(DeviceStateError) {
        guard saved.count <= limit else {
            throw DeviceStateError.invalid(device: device,
                                           reason: "\(saved.count) pending elements exceed the host input backlog's limit of \(limit)")
        }
        storage = saved
        start = 0
    }
}
