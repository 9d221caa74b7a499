import NIOHTTPTypes

/// Where one connection stands in answering its requests, seen from a channel handler: how many requests arrived and
/// are not answered in full yet, whether the latest has arrived in full, and whether the response to the oldest has
/// begun. A handler that answers on its own (an error, a hot read) uses it so that responses never interleave or
/// answer the wrong request.
struct ResponseProgress {
    private(set) var unanswered = 0
    private(set) var responseStarted = false
    private(set) var latestRequestComplete = true

    mutating func requestRead(_ part: HTTPRequestPart) {
        switch part {
        case .head:
            unanswered += 1
            latestRequestComplete = false
        case .body: break
        case .end: latestRequestComplete = true
        }
    }

    mutating func responseWritten(_ part: HTTPResponsePart) {
        switch part {
        case .head: responseStarted = true
        case .body: break
        case .end:
            unanswered -= 1
            responseStarted = false
        }
    }

    /// True when a response written now answers the request being read, in order: every earlier request is answered,
    /// the one being read is not (a route may answer before the body is in) and no response has begun. Between
    /// requests it answers the next one (e.g. one whose head will not parse).
    var mayAnswerCurrent: Bool {
        if latestRequestComplete { return unanswered == 0 }
        return unanswered == 1 && !responseStarted
    }

    /// No request is waiting for its response.
    var idle: Bool { unanswered == 0 }
}
