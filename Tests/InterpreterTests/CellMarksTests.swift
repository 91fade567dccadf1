import Foundation
import TestSupport
import XCTest

@testable import Language

/// What a session records for notebooks: the comment lines before each statement, the command each calls, and
/// figures and sourced statements as marks at their place in the cell's output.
final class CellMarksTests: XCTestCase {
    func testLeadingCommentsAreTheWholeCommentLinesBeforeEachStatement() {
        let text = """
            #!/usr/bin/env sskd
            # Title line
            #   indented

            # after a blank
            x = 1   # trailing: not the next statement's
            print x; print 2
              # indented comment
            for i in 1..2 {
              # inside the block: part of its text
              print i
            }
            #no space
            print 3
            """
        let statements = [
            "x = 1", "print x", "print 2", "for i in 1..2 {\n  # inside the block: part of its text\n  print i\n}",
            "print 3",
        ]
        let comments = statementComments(in: text, statements: statements)
        XCTAssertEqual(
            comments.map(\.leading),
            ["Title line\n  indented\n\nafter a blank", nil, nil, "indented comment", "no space"])
        XCTAssertEqual(
            comments.map(\.trailing), ["   # trailing: not the next statement's", nil, nil, nil, nil],
            "a comment ending a statement's line is that statement's, blanks and all")
        XCTAssertEqual(statementComments(in: "print 1", statements: ["print 1"]).map(\.leading), [nil])
        XCTAssertEqual(
            statementComments(in: "print 1", statements: ["print 9"]).map(\.leading), [nil], "text not found")
    }

    /// A top-level statement's trailing comment stays in its cell's source, as one inside a block does (so a
    /// notebook and `save session` keep it); also for the statements of a sourced file.
    func testTrailingCommentsStayInTheCellSource() throws {
        let session = testSession(CaptureSink())
        let text = "x = 1   # small\nfor i in 1..1 {\n  print i  # inner\n}  # after the block\nprint 2; print 3 # last"
        XCTAssertEqual(session.run(text, name: "t"), .ok)
        XCTAssertEqual(
            session.cells.map(\.source),
            [
                "x = 1   # small", "for i in 1..1 {\n  print i  # inner\n}  # after the block", "print 2",
                "print 3 # last",
            ])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-trail-\(UUID().uuidString).sskd")
        defer { try? FileManager.default.removeItem(at: file) }
        try "y = 2  # two\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(session.run("source \"\(file.path)\"", name: "s"), .ok)
        guard case .statement(let source, _, _)? = session.cells.last?.marks.first?.kind else {
            return XCTFail("no sourced statement")
        }
        XCTAssertEqual(source, "y = 2  # two")
    }

    func testCellsRecordCommandsCommentsAndMarks() throws {
        let folder = try makeTemporaryFolder("sskd-marks")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("in.sskd")
        try "# about a\nprint \"a\"\nnote \"b\"\n".write(to: file, atomically: true, encoding: .utf8)
        let session = testSession(CaptureSink())
        XCTAssertEqual(session.run("# first\nx = 1\nsource \"\(file.path)\"", name: "t"), .ok)
        XCTAssertEqual(session.cells.map(\.comment), ["first", nil])
        XCTAssertEqual(session.cells.map(\.command), [nil, "source"])
        let marks = session.cells[1].marks
        XCTAssertEqual(marks.map(\.offset), [0, 2])
        guard case .statement(let source, let command, let comment) = marks[0].kind,
            case .statement(let source2, let command2, nil) = marks[1].kind
        else { return XCTFail("not two statements: \(marks)") }
        XCTAssertEqual([source, source2], ["print \"a\"", "note \"b\""])
        XCTAssertEqual([command, command2], ["print", "note"])
        XCTAssertEqual(comment, "about a")

        // A figure: its console text reaches the output but not the cell, whose mark sits between the texts.
        session.commands.register(
            CommandSpec("fig", summary: "a figure", example: "fig", returnsValue: false) { _, session in
                session.print("before")
                session.display("ASCII ART\n", figure: [file])
                session.display("no files: plain output\n", figure: [])
                return .none
            })
        let sink = CaptureSink()
        session.output = sink
        XCTAssertEqual(session.run("fig", name: "f"), .ok)
        XCTAssertEqual(sink.text, "before\nASCII ART\nno files: plain output\n")
        let cell = try XCTUnwrap(session.cells.last)
        XCTAssertEqual(cell.output, "before\nno files: plain output\n")
        XCTAssertEqual(cell.marks.map(\.offset), [7])
        guard case .figure(let files) = cell.marks.first?.kind else { return XCTFail("no figure mark") }
        XCTAssertEqual(files, [file])
    }
}
