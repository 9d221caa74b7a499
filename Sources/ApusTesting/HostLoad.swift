import Foundation

/// Threads that spin until stopped, so a test can run a guest on a host as busy as a shared CI machine gets: a
/// kernel that calibrates its clock against a timer would then see the interpreter slow down mid-measurement.
public final class HostLoad {
    private let threads: [Thread]

    public init(threads count: Int) {
        threads = (0..<count).map { index in
            let thread = Thread {
                var sink: UInt64 = 0
                while !Thread.current.isCancelled {
                    for step in 0..<1_000_000 { sink = sink &* 6364136223846793005 &+ UInt64(step) }
                }
                if sink == 42 { print("") }   // keeps the loop from being optimised away
            }
            thread.name = "apus-host-load-\(index)"
            thread.start()
            return thread
        }
    }

    /// Asks every thread to stop; each ends within one inner loop.
    public func stop() {
        for thread in threads { thread.cancel() }
    }

    deinit { stop() }
}
