"""mcu.layout"""
