"""The work calendar (工作日历): the table the admins own and its yearly import."""
