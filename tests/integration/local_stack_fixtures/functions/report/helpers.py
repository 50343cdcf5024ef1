NAME = "report-helpers"
