"""Ways a case comes in besides the phone and the desk: Open311 and sensors (DESIGN §2).

Each channel is an adapter: it checks its caller, reads its own format, and ends in
`gridapp.cases` intake.
"""
