NAME = "start-helpers"
