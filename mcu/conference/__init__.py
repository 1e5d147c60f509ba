"""mcu.conference"""
