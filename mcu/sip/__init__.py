"""mcu.sip"""
