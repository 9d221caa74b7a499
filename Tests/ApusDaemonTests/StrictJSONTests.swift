import ApusAPI
import Testing

/// What Foundation's decoder lets through and the API refuses, each with a message naming the field.
@Suite struct StrictJSONTests {
    private func problem(_ text: String) -> String? {
        do {
            try StrictJSON.check(Array(text.utf8))
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func wellFormedObjectsPass() {
        #expect(problem(#"{"name": "a", "memoryMiB": 64, "boot": {"guest": "counter"}, "x": [1, -2, true, "\u00e9\n"]}"#) == nil)
        #expect(problem(" {} ") == nil)
    }

    @Test func whatTheDecoderWouldAcceptIsRefusedByName() {
        #expect(problem(#"{"name": "a", "name": "b"}"#) == "field 'name' is given more than once")
        #expect(problem(#"{"boot": {"guest": "a", "gu\u0065st": "b"}}"#) == "field 'boot.guest' is given more than once")
        #expect(problem(#"{"memoryMiB": 1000.0}"#) == "'memoryMiB' must be an integer, got 1000.0")
        #expect(problem(#"{"memoryMiB": 1.5}"#) == "'memoryMiB' must be an integer, got 1.5")
        #expect(problem(#"{"memoryMiB": 1e3}"#) == "'memoryMiB' must be an integer, got 1e3")
        #expect(problem(#"{"memoryMiB": null}"#) == "'memoryMiB' must not be null (leave the field out for its default)")
        #expect(problem(#"{"vcpus": 99999999999999999999}"#) == "'vcpus' is out of range: 99999999999999999999")
        #expect(problem("1.5") == "the body must be a JSON object, got a number or invalid JSON")
        #expect(problem("[]") == "the body must be a JSON object, got an array")
    }

    @Test func malformedJSONIsReportedWithItsPosition() {
        #expect(problem(#"{"name": "x","#)?.hasPrefix("the body is not valid JSON") == true)
        #expect(problem(#"{"a": 01}"#)?.hasPrefix("the body is not valid JSON") == true)
        #expect(problem(#"{"a": 1} x"#)?.contains("unexpected text after the object") == true)
        #expect(problem(String(repeating: "[", count: 100_000))?.isEmpty == false)
        #expect(problem(#"{"a": ""# + String(repeating: "[", count: 100) + "}")?.isEmpty == false)
    }
}
